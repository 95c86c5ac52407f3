"""Each Studio page renders with data from the API and shows the API's errors to the user."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow


def test_root_redirects_and_models_page_filters_with_facets(live, page, shot):
    page.goto(live.url + "/")
    assert page.url == live.url + "/studio/"
    expect(page.locator("#model-results")).to_contain_text("huggingface-text2text-flan-t5-small")
    # the filter language in the search box
    page.fill("#model-filter", "task == text2text and training_supported == true")
    page.keyboard.press("Enter")
    expect(page.locator("#model-results")).to_contain_text("4 of 9 models")
    expect(page.locator("#model-results")).not_to_contain_text("smollm2")
    shot(page, "models")
    # a facet adds a clause
    page.get_by_label(re.compile(r"^meta \(")).check()
    expect(page.locator("#model-results")).to_contain_text("0 of 9 models")
    # a bad filter: the catalog's own message, shown to the user
    page.fill("#model-filter", "task =! text2text")
    page.keyboard.press("Enter")
    expect(page.locator("#error")).to_contain_text("cannot parse filter 'task =! text2text'")


def test_model_card(live, page, shot):
    page.goto(live.url + "/studio/#/model/huggingface-llm-mistral-7b")
    expect(page.locator("main")).to_contain_text("Default hyperparameters")
    expect(page.locator("#licence")).to_contain_text("Licence: apache-2.0")
    expect(page.locator("#weights")).to_contain_text("Not present here")
    expect(page.locator("#weights")).to_contain_text("springboard models register")
    expect(page.locator("main table").nth(1)).to_contain_text(">= 1 and <= 1000")  # epoch's range
    shot(page, "model-card")
    page.goto(live.url + "/studio/#/model/no-such-model")
    expect(page.locator("#error")).to_contain_text("no model with id or alias 'no-such-model'")


def test_api_key_login_prompt_keyboard_only(live_with_key, page, shot):
    page.goto(live_with_key.url + "/studio/")
    dialog = page.locator("#login")
    expect(dialog).to_be_visible()
    expect(page.locator("#login-message")).to_contain_text("requires an API key")
    shot(page, "login")
    # keyboard only: the key field has focus; Enter submits
    page.keyboard.type("wrong-key")
    page.keyboard.press("Enter")
    expect(page.locator("#login-message")).to_contain_text("is not valid")
    page.fill("#login-key", "")
    page.keyboard.type("studio-test-key")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#model-results")).to_contain_text("9 of 9 models")
    assert page.evaluate("sessionStorage.getItem('springboard.apiKey')") == "studio-test-key"
    # the key goes with control-plane calls too
    page.goto(live_with_key.url + "/studio/#/endpoints")
    expect(page.locator("#endpoint-list")).to_contain_text("No endpoints yet.")
    # a new tab of the session keeps it; "Forget API key" drops it
    page.get_by_role("button", name="Forget API key").click()
    expect(dialog).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('springboard.apiKey')") is None
