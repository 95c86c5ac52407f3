"""The Python SDK lookalikes, one module per class family, over the job kinds and the endpoint
registry: `Estimator` and `TrainingJobAnalytics` (estimator), `Model` and `Predictor` (model),
`Transformer` (transformer), `AutoMLV2` and its configs (automl); `arguments` is the keyword
check they share. `springboard` re-exports the classes, loading each module on first use, so
importing one family does not load the others' rooms. No room imports this one."""
