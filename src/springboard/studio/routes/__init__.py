"""Studio's JSON routes, one module per area; `studio.api` puts them under `/studio/api`."""
