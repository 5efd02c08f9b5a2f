//! Every HTTP case, written once and run against every harness (`main.rs` instantiates the
//! list per adapter). A case that passes on one adapter and fails on another is a bug in that
//! adapter.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use dravo_connect::test_util::{MockBehavior, MockClientAuth, MockConfig, MockPkce, MockProvider, MockUser};
use dravo_connect::{ErrorCode, OAuthErrorReason};
use http::{Method, Request, StatusCode};
use serde_json::json;

use crate::harness::*;

/// Calls `$suite!($($args)*; every case)`: the one list of cases.
macro_rules! for_each_case {
    ($suite:ident!($($args:tt)*)) => {
        $suite!($($args)*;
            the_full_flow_connects_an_account_and_lists_it_without_tokens,
            an_app_is_returned_with_its_redirect_uri_and_never_its_secret,
            patch_changes_only_the_given_fields_and_the_new_secret_is_used,
            reconnecting_the_same_provider_account_updates_it_and_never_duplicates_it,
            a_flow_is_attributed_to_the_external_id_given_at_start_whoever_completes_it,
            the_redirect_keeps_the_return_urls_query_and_fragment_and_replaces_ours,
            the_location_is_the_normalised_checked_url,
            a_user_who_declines_comes_back_with_access_denied_and_no_token_request,
            a_hostile_provider_error_is_mapped_and_never_reflected,
            a_state_past_its_lifetime_gives_state_expired_and_no_outbound_call,
            a_state_just_inside_its_lifetime_still_works,
            a_replayed_callback_gives_state_reused_and_the_token_endpoint_sees_one_request,
            a_token_error_inside_a_200_is_token_exchange_failed_with_no_account,
            a_token_response_without_access_token_or_of_the_wrong_type_fails,
            a_provider_outage_at_the_token_endpoint_is_provider_error,
            a_slow_token_endpoint_times_out_as_provider_error,
            a_failing_profile_call_is_profile_fetch_failed,
            a_store_failure_while_saving_the_account_is_server_error,
            a_code_from_another_flow_fails_at_the_pkce_enforcing_mock,
            a_mismatched_or_trailing_slash_iss_is_refused_before_the_token_endpoint,
            an_error_response_with_a_forged_iss_is_provider_error_not_the_users_denial,
            the_token_request_never_follows_a_redirect,
            body_client_auth_and_providers_without_pkce_work,
            a_missing_forged_truncated_or_foreign_state_gets_the_static_page,
            a_state_minted_for_one_provider_is_refused_at_another_before_any_store_call,
            forged_callbacks_touch_neither_the_store_nor_the_provider,
            a_callback_with_thousands_of_distinct_parameters_gets_the_page_before_any_store_call,
            a_query_over_the_parameter_cap_gets_invalid_request_and_one_at_the_cap_is_served,
            a_return_url_removed_from_the_allowlist_before_the_callback_gets_the_page,
            a_flow_whose_app_was_deleted_gets_the_page,
            start_accepts_allowlisted_return_urls_and_refuses_every_known_bypass,
            every_error_code_is_answered_with_its_status_and_shape,
            a_body_that_repeats_a_key_gets_invalid_json_and_stores_nothing,
            a_forged_query_api_key_or_cookie_is_not_a_credential,
            a_tenant_never_sees_or_touches_another_tenants_objects,
            a_tenant_two_flow_never_creates_a_tenant_one_account,
            an_account_registered_from_a_token_is_checked_and_listed,
            deleting_an_account_revokes_at_the_provider_and_removes_it,
            deleting_an_app_in_use_needs_cascade_which_removes_its_accounts,
            lists_page_with_limit_and_cursor,
            a_start_response_is_not_cacheable_and_its_state_holds_no_verifier,
            host_routes_middleware_and_404s_are_untouched_with_connect_mounted,
            every_status_body_and_header_connect_sets_passes_through_the_adapter_unchanged,
            every_route_answers_a_wrong_method_with_405_and_its_allow_header,
            the_limits_are_connects_own_at_the_exact_boundaries,
            a_request_refused_on_its_head_is_answered_without_waiting_for_its_body,
            an_empty_prefix_serves_the_routes_at_the_mount_point,
            a_target_selection_is_read_and_chosen_once_with_a_key,
        );
    };
}
pub(crate) use for_each_case;

// ------------------------------------------------------------------ the full flow

pub async fn the_full_flow_connects_an_account_and_lists_it_without_tokens<S: Harness>() {
    let h = H::<S>::new().await;
    let app_id = h.create_app(KEY1).await;
    let authorize_url = h.start_default(KEY1).await;
    let au = url::Url::parse(&authorize_url).unwrap();
    assert!(authorize_url.starts_with(&h.mock.authorize_url()));
    let q: std::collections::HashMap<_, _> = au.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{BASE}{}/v1/oauth/mock/callback", S::OUTER));
    assert_eq!(q["client_id"], "mock-client");
    assert!(q["state"].len() < 200);

    let cb = h.consent(&authorize_url).await;
    let r = h.callback(&cb).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let loc = r.location();
    assert_eq!(loc.origin().ascii_serialization(), "https://app.acme.test");
    assert_eq!(loc.path(), "/connect");
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"));
    let account_id = r.location_param("account_id").unwrap();
    for leaked in ["code", "state", "iss", "access_token", "code_verifier"] {
        assert!(r.location_param(leaked).is_none(), "{leaked} leaked into Location");
    }

    let list = h.get("/v1/accounts", Some(KEY1)).await;
    assert_eq!(list.status, StatusCode::OK);
    let body = list.json();
    assert_eq!(body["next_cursor"], serde_json::Value::Null);
    let acc = &body["data"][0];
    assert_eq!(acc["id"], account_id.as_str());
    assert_eq!(acc["provider"], "mock");
    assert_eq!(acc["provider_account_id"], "mock-user-1");
    assert_eq!(acc["username"], "mockuser");
    assert_eq!(acc["display_name"], "Mock User");
    assert_eq!(acc["status"], "active");
    assert_eq!(acc["app_id"], app_id.as_str());
    assert_eq!(acc["scopes"], json!(["profile", "post"]));
    assert_eq!(acc["connected_at"], "2026-01-01T00:00:00Z");
    assert_eq!(acc["token_expires_at"], "2026-01-01T01:00:00Z");
    assert!(!list.text().contains("mock_at_") && !list.text().contains("mock_rt_"));

    let one = h.get(&format!("/v1/accounts/{account_id}"), Some(KEY1)).await;
    assert_eq!(one.json(), *acc);
    assert_eq!(h.mock.counts().token_authorization_code, 1);
    assert_eq!(h.mock.counts().userinfo, 1);
    // The host-side API hands out the live token.
    let token = h.connect.access_token(&tenant("t1"), &account_id.parse().unwrap()).await.unwrap();
    assert!(token.expose_secret().starts_with("mock_at_"));
}

pub async fn an_app_is_returned_with_its_redirect_uri_and_never_its_secret<S: Harness>() {
    let h = H::<S>::new().await;
    let r = h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(h.app_body())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let app = r.json();
    let keys: std::collections::BTreeSet<_> = app.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "allowed_return_urls",
            "client_id",
            "created_at",
            "id",
            "name",
            "provider",
            "redirect_uri",
            "scopes",
            "updated_at"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    assert_eq!(app["redirect_uri"], format!("{BASE}{}/v1/oauth/mock/callback", S::OUTER));
    assert!(app["id"].as_str().unwrap().starts_with("app_"));
    assert_eq!(app["scopes"], json!([]));
    assert!(!r.text().contains("mock-secret"));
    let id = app["id"].as_str().unwrap();
    for r in [h.get(&format!("/v1/oauth-apps/{id}"), Some(KEY1)).await, h.get("/v1/oauth-apps", Some(KEY1)).await] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.text().contains("mock-secret"));
    }
    let list = h.get("/v1/oauth-apps?provider=mock", Some(KEY1)).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let none = h.get("/v1/oauth-apps?provider=x", Some(KEY1)).await.json();
    assert_eq!(none["data"], json!([]));
}

pub async fn patch_changes_only_the_given_fields_and_the_new_secret_is_used<S: Harness>() {
    let h = H::<S>::new().await;
    let id = h.create_app(KEY1).await;
    let r = h
        .req(
            Method::PATCH,
            &format!("/v1/oauth-apps/{id}"),
            Some(KEY1),
            Some(json!({"name": null, "scopes": ["profile"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let app = r.json();
    assert_eq!(app["name"], serde_json::Value::Null);
    assert_eq!(app["scopes"], json!(["profile"]));
    assert_eq!(app["allowed_return_urls"], json!([RETURN]));
    // A wrong secret makes the exchange fail at the strict mock: proof the patched secret is used.
    let r = h
        .req(Method::PATCH, &format!("/v1/oauth-apps/{id}"), Some(KEY1), Some(json!({"client_secret": "wrong"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let r = h.callback(&cb).await;
    assert_eq!(r.location_param("oauth_error").as_deref(), Some("token_exchange_failed"));
    let r = h
        .req(Method::PATCH, &format!("/v1/oauth-apps/{id}"), Some(KEY1), Some(json!({"client_secret": "mock-secret"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cb = h.consent(&h.start_default(KEY1).await).await;
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
    // The granted scope was the patched subset.
    let acc = h.get("/v1/accounts", Some(KEY1)).await.json();
    assert_eq!(acc["data"][0]["scopes"], json!(["profile"]));
}

pub async fn reconnecting_the_same_provider_account_updates_it_and_never_duplicates_it<S: Harness>() {
    let h = H::<S>::new().await;
    let first = h.connect_once().await.location_param("account_id").unwrap();
    h.mock.set_user(MockUser::new("mock-user-1", "renamed", "Renamed User"));
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let second = h.callback(&cb).await.location_param("account_id").unwrap();
    assert_eq!(first, second);
    let list = h.get("/v1/accounts", Some(KEY1)).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["username"], "renamed");
    // Another provider account is another account.
    h.mock.set_user(MockUser::new("mock-user-2", "other", "Other"));
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let third = h.callback(&cb).await.location_param("account_id").unwrap();
    assert_ne!(third, first);
}

pub async fn a_flow_is_attributed_to_the_external_id_given_at_start_whoever_completes_it<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let url = h.start(KEY1, &format!("return_url={}&external_id=user-A", enc(RETURN))).await;
    // Browser B completes it, and even forges an external_id into the callback query.
    let cb = h.consent(&url).await;
    let r = h.callback(&format!("{cb}&external_id=user-B")).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let accounts = h.get("/v1/accounts?external_id=user-A", Some(KEY1)).await.json();
    assert_eq!(accounts["data"].as_array().unwrap().len(), 1);
    assert_eq!(accounts["data"][0]["external_id"], "user-A");
    let b = h.get("/v1/accounts?external_id=user-B", Some(KEY1)).await.json();
    assert_eq!(b["data"], json!([]));
    // The same provider account for another end user is a separate account.
    let url = h.start(KEY1, &format!("return_url={}&external_id=user-C", enc(RETURN))).await;
    let cb = h.consent(&url).await;
    h.callback(&cb).await;
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 2);
}

pub async fn the_redirect_keeps_the_return_urls_query_and_fragment_and_replaces_ours<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let ret = format!("{RETURN}/done?connected=evil&a=1&oauth_error=x#tab");
    let url = h.start(KEY1, &format!("return_url={}", enc(&ret))).await;
    let r = h.callback(&h.consent(&url).await).await;
    let loc = r.location();
    assert_eq!(loc.path(), "/connect/done");
    assert_eq!(loc.fragment(), Some("tab"));
    let pairs: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(pairs.iter().filter(|(k, _)| k == "connected").count(), 1);
    assert!(pairs.contains(&("connected".into(), "mock".into())));
    assert!(pairs.contains(&("a".into(), "1".into())));
    assert!(!pairs.iter().any(|(k, _)| k == "oauth_error"));
    assert!(loc.as_str().ends_with("#tab"));
}

pub async fn the_location_is_the_normalised_checked_url<S: Harness>() {
    let h = H::<S>::new().await;
    let r = h
        .req(
            Method::POST,
            "/v1/oauth-apps",
            Some(KEY1),
            Some(json!({
                "provider": "mock", "client_id": "mock-client", "client_secret": "mock-secret",
                "allowed_return_urls": ["https://app.acme.com/connect"]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let url = h.start(KEY1, &format!("return_url={}", enc("HTTPS://App.Acme.Com:443/connect"))).await;
    let r = h.callback(&h.consent(&url).await).await;
    assert!(
        r.header("location").unwrap().starts_with("https://app.acme.com/connect?connected=mock"),
        "{:?}",
        r.header("location")
    );
}

// ------------------------------------------------------------------ oauth_error reasons

async fn failing_flow<S: Harness>(h: &H<S>, behavior: MockBehavior) -> Resp {
    h.create_app(KEY1).await;
    let url = h.start_default(KEY1).await;
    h.mock.set_behavior(behavior);
    let cb = h.consent(&url).await;
    h.callback(&cb).await
}

#[track_caller]
fn assert_reason(r: &Resp, reason: OAuthErrorReason) {
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    assert_eq!(r.location_param("oauth_error").as_deref(), Some(reason.as_str()), "{:?}", r.header("location"));
    assert!(r.location_param("connected").is_none());
    assert!(r.location().as_str().starts_with(RETURN));
}

pub async fn a_user_who_declines_comes_back_with_access_denied_and_no_token_request<S: Harness>() {
    let h = H::<S>::new().await;
    let r = failing_flow(&h, MockBehavior::default().with_deny(true)).await;
    assert_reason(&r, OAuthErrorReason::AccessDenied);
    assert_eq!(h.mock.counts().token, 0);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
}

pub async fn a_hostile_provider_error_is_mapped_and_never_reflected<S: Harness>() {
    let h = H::<S>::new().await;
    let r = failing_flow(&h, MockBehavior::default().with_authorize_error("<script>alert(1)</script>")).await;
    assert_reason(&r, OAuthErrorReason::ProviderError);
    assert!(!r.header("location").unwrap().contains("script"));
    // A huge error_description changes nothing either.
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let state = param(&cb, "state");
    let desc = "x".repeat(7_000);
    let r = h
        .callback(&format!("/v1/oauth/mock/callback?error=access_denied&error_description={desc}&state={state}"))
        .await;
    assert_reason(&r, OAuthErrorReason::AccessDenied);
    assert!(!r.header("location").unwrap().contains("xxxx"));
    // A 10 kB one is over the URL limit: a fixed error, nothing echoed.
    let desc = "x".repeat(10_000);
    let r = h
        .callback(&format!("/v1/oauth/mock/callback?error=access_denied&error_description={desc}&state={state}"))
        .await;
    r.assert_error(414, "uri_too_long");
    assert!(!r.text().contains("xxxx"));
}

pub async fn a_state_past_its_lifetime_gives_state_expired_and_no_outbound_call<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    h.mock.reset_counts();
    h.clock.advance(time::Duration::seconds(601));
    let r = h.callback(&cb).await;
    assert_reason(&r, OAuthErrorReason::StateExpired);
    assert_eq!(h.mock.counts().total, 0);
}

pub async fn a_state_just_inside_its_lifetime_still_works<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    h.clock.advance(time::Duration::seconds(600));
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
}

pub async fn a_replayed_callback_gives_state_reused_and_the_token_endpoint_sees_one_request<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
    let r = h.callback(&cb).await;
    assert_reason(&r, OAuthErrorReason::StateReused);
    assert_eq!(h.mock.counts().token, 1);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 1);
}

pub async fn a_token_error_inside_a_200_is_token_exchange_failed_with_no_account<S: Harness>() {
    let h = H::<S>::new().await;
    let r = failing_flow(&h, MockBehavior::default().with_token_error_in_200(true)).await;
    assert_reason(&r, OAuthErrorReason::TokenExchangeFailed);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
}

pub async fn a_token_response_without_access_token_or_of_the_wrong_type_fails<S: Harness>() {
    for b in [
        MockBehavior::default().with_token_missing_access_token(true),
        MockBehavior::default().with_token_type("mac"),
        MockBehavior::default().with_token_malformed(true),
    ] {
        let h = H::<S>::new().await;
        let r = failing_flow(&h, b.clone()).await;
        assert_reason(&r, OAuthErrorReason::TokenExchangeFailed);
        assert_eq!(h.mock.counts().userinfo, 0, "{b:?}");
    }
}

pub async fn a_provider_outage_at_the_token_endpoint_is_provider_error<S: Harness>() {
    let h = H::<S>::new().await;
    let r = failing_flow(&h, MockBehavior::default().with_token_status(503)).await;
    assert_reason(&r, OAuthErrorReason::ProviderError);
}

pub async fn a_slow_token_endpoint_times_out_as_provider_error<S: Harness>() {
    let h = H::<S>::with(MockConfig::default(), |b| b.http_timeout(std::time::Duration::from_secs(1))).await;
    let r = failing_flow(&h, MockBehavior::default().with_token_delay_ms(3_000)).await;
    assert_reason(&r, OAuthErrorReason::ProviderError);
}

pub async fn a_failing_profile_call_is_profile_fetch_failed<S: Harness>() {
    for b in [MockBehavior::default().with_userinfo_status(500), MockBehavior::default().with_userinfo_malformed(true)]
    {
        let h = H::<S>::new().await;
        let r = failing_flow(&h, b).await;
        assert_reason(&r, OAuthErrorReason::ProfileFetchFailed);
        assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
    }
}

pub async fn a_store_failure_while_saving_the_account_is_server_error<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    h.store.fail_accounts.store(true, Ordering::SeqCst);
    let r = h.callback(&cb).await;
    assert_reason(&r, OAuthErrorReason::ServerError);
}

pub async fn a_code_from_another_flow_fails_at_the_pkce_enforcing_mock<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb_a = h.consent(&h.start_default(KEY1).await).await;
    let cb_b = h.consent(&h.start_default(KEY1).await).await;
    // Flow B's state with flow A's code: the verifier of B does not match A's challenge.
    let injected =
        format!("/v1/oauth/mock/callback?code={}&state={}", param(&cb_a, "code"), enc(&param(&cb_b, "state")));
    let r = h.callback(&injected).await;
    assert_reason(&r, OAuthErrorReason::TokenExchangeFailed);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
}

pub async fn a_mismatched_or_trailing_slash_iss_is_refused_before_the_token_endpoint<S: Harness>() {
    let h = H::<S>::with(MockConfig::default().with_issuer("https://mock.issuer.test"), |b| b).await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    assert_eq!(param(&cb, "iss"), "https://mock.issuer.test");
    for bad in ["https://evil.test", "https://mock.issuer.test/"] {
        let url = h.start_default(KEY1).await;
        let cb = h.consent(&url).await;
        let forged = cb.replace(&format!("iss={}", enc("https://mock.issuer.test")), &format!("iss={}", enc(bad)));
        h.mock.reset_counts();
        let r = h.callback(&forged).await;
        assert_reason(&r, OAuthErrorReason::ProviderError);
        assert_eq!(h.mock.counts().token, 0);
    }
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
}

pub async fn an_error_response_with_a_forged_iss_is_provider_error_not_the_users_denial<S: Harness>() {
    let issuer = "https://mock.issuer.test";
    let h = H::<S>::with(MockConfig::default().with_issuer(issuer), |b| b).await;
    h.create_app(KEY1).await;
    h.mock.set_behavior(MockBehavior::default().with_deny(true));
    // The mock's denial carries its `iss` (RFC 9207 §2): with it, the user's denial.
    let cb = h.consent(&h.start_default(KEY1).await).await;
    assert_eq!(param(&cb, "error"), "access_denied");
    assert_eq!(param(&cb, "iss"), issuer);
    assert_reason(&h.callback(&cb).await, OAuthErrorReason::AccessDenied);
    // The same denial with another issuer's `iss` (a mix-up, RFC 9207 §2.4): not a denial.
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let forged = cb.replace(&format!("iss={}", enc(issuer)), &format!("iss={}", enc("https://evil.test")));
    assert_ne!(forged, cb);
    assert_reason(&h.callback(&forged).await, OAuthErrorReason::ProviderError);
    assert_eq!(h.mock.counts().token, 0);
}

pub async fn the_token_request_never_follows_a_redirect<S: Harness>() {
    let elsewhere = MockProvider::start().await.unwrap();
    let h = H::<S>::new().await;
    let r = failing_flow(&h, MockBehavior::default().with_token_redirect_to(elsewhere.token_url())).await;
    assert_reason(&r, OAuthErrorReason::ProviderError);
    assert_eq!(elsewhere.counts().total, 0);
}

pub async fn body_client_auth_and_providers_without_pkce_work<S: Harness>() {
    let cfg = MockConfig::default().with_client_auth(MockClientAuth::Body).with_pkce(MockPkce::Unsupported);
    let h = H::<S>::with(cfg, |b| b).await;
    h.create_app(KEY1).await;
    let url = h.start_default(KEY1).await;
    assert!(!url.contains("code_challenge"));
    let r = h.callback(&h.consent(&url).await).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"));
}

// ------------------------------------------------------------------ no trustworthy destination

#[track_caller]
fn assert_rejected_page(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.header("location").is_none());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.header("content-security-policy").unwrap().starts_with("default-src 'none'"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text().contains("<script") && !r.text().contains("http"));
}

pub async fn a_missing_forged_truncated_or_foreign_state_gets_the_static_page<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let state = param(&cb, "state");
    let mut flipped = state.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let code = param(&cb, "code");
    for q in [
        format!("code={code}"),
        format!("code={code}&state="),
        format!("code={code}&state={}", &state[..state.len() - 4]),
        format!("code={code}&state={flipped}"),
        format!("code={code}&state={}", enc("<script>alert(1)</script>")),
        format!("code={code}&state={state}&state={state}"),
        format!("code={code}&code={code}&state={state}"),
        format!("code={code}&state={}", "A".repeat(600)),
        format!("code={code}&state=%FF%FE"),
    ] {
        let r = h.callback(&format!("/v1/oauth/mock/callback?{q}")).await;
        assert_rejected_page(&r);
    }
    assert_eq!(h.mock.counts().token, 0);
    // The genuine callback still works afterwards (the forged ones consumed nothing).
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
}

pub async fn a_state_minted_for_one_provider_is_refused_at_another_before_any_store_call<S: Harness>() {
    let other = MockProvider::start().await.unwrap();
    let h = H::<S>::with(MockConfig::default(), |b| b.provider_config(other.provider_config("other"))).await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let moved = cb.replace("/oauth/mock/", "/oauth/other/");
    let before = h.store.calls();
    let r = h.callback(&moved).await;
    assert_rejected_page(&r);
    assert_eq!(h.store.calls(), before);
    assert_eq!(h.mock.counts().token + other.counts().token, 0);
}

pub async fn forged_callbacks_touch_neither_the_store_nor_the_provider<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let state = param(&cb, "state");
    let before = h.store.calls();
    h.mock.reset_counts();
    for i in 0..2_000u32 {
        let mut s = state.clone().into_bytes();
        let pos = (i as usize) % s.len();
        s[pos] = if s[pos] == b'x' { b'y' } else { b'x' };
        let r = h.callback(&format!("/v1/oauth/mock/callback?code=c&state={}", String::from_utf8(s).unwrap())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(h.store.calls(), before);
    assert_eq!(h.mock.counts().total, 0);
}

/// `n` distinct two-character parameter names (`aa=&ab=&…`), three bytes each.
fn distinct_params(n: usize) -> String {
    let chars: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let names = chars.iter().flat_map(|a| chars.iter().map(move |b| format!("{a}{b}=")));
    names.take(n).collect::<Vec<_>>().join("&")
}

pub async fn a_callback_with_thousands_of_distinct_parameters_gets_the_page_before_any_store_call<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    // The genuine state and code, among 1,600 distinct parameters: well inside the URL limit.
    let flooded = format!("{cb}&{}", distinct_params(1600));
    assert!(flooded.len() < 8 * 1024, "{}", flooded.len());
    let before = h.store.calls();
    h.mock.reset_counts();
    assert_rejected_page(&h.callback(&flooded).await);
    assert_eq!(h.store.calls(), before);
    assert_eq!(h.mock.counts().total, 0);
    // Nothing was consumed: the plain callback still connects.
    assert_eq!(h.callback(&cb).await.location_param("connected").as_deref(), Some("mock"));
}

pub async fn a_query_over_the_parameter_cap_gets_invalid_request_and_one_at_the_cap_is_served<S: Harness>() {
    let h = H::<S>::new().await;
    let r = h.get(&format!("/v1/accounts?limit=5&{}", distinct_params(64)), Some(KEY1)).await;
    r.assert_error(400, "invalid_request");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("more than 64 parameters"), "{}", r.text());
    let r = h.get(&format!("/v1/accounts?limit=5&{}", distinct_params(63)), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

pub async fn a_return_url_removed_from_the_allowlist_before_the_callback_gets_the_page<S: Harness>() {
    let h = H::<S>::new().await;
    let id = h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let r = h
        .req(
            Method::PATCH,
            &format!("/v1/oauth-apps/{id}"),
            Some(KEY1),
            Some(json!({"allowed_return_urls": ["https://other.acme.test/"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_rejected_page(&h.callback(&cb).await);
}

pub async fn a_flow_whose_app_was_deleted_gets_the_page<S: Harness>() {
    let h = H::<S>::new().await;
    let id = h.create_app(KEY1).await;
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let r = h.req(Method::DELETE, &format!("/v1/oauth-apps/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_rejected_page(&h.callback(&cb).await);
    assert_eq!(h.mock.counts().token, 0);
}

pub async fn a_body_that_repeats_a_key_gets_invalid_json_and_stores_nothing<S: Harness>() {
    let h = H::<S>::new().await;
    let body = h.app_body().to_string();
    // The same key twice, also spelled with an escape: serde_json alone would keep the last.
    for repeated in [r#""client_secret":"other","#, r#""client\u005fsecret":"other","#] {
        let body = body.replacen('{', &format!("{{{repeated}"), 1);
        let req = Request::post("/v1/oauth-apps")
            .header("authorization", format!("Bearer {KEY1}"))
            .header("content-type", "application/json")
            .body(Bytes::from(body.clone()))
            .unwrap();
        let r = h.send(req).await;
        r.assert_error(400, "invalid_json");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("`client_secret`"), "{}", r.text());
    }
    assert_eq!(h.get("/v1/oauth-apps", Some(KEY1)).await.json()["data"], json!([]));
}

// ------------------------------------------------------------------ return URL allowlist at start

pub async fn start_accepts_allowlisted_return_urls_and_refuses_every_known_bypass<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    for ok in [
        RETURN,
        "https://app.acme.test/connect/",
        "https://app.acme.test/connect/done?x=1#f",
        "https://APP.acme.test:443/connect",
    ] {
        let r = h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(ok)), Some(KEY1)).await;
        assert_eq!(r.status, StatusCode::OK, "{ok}: {}", r.text());
    }
    for bad in [
        "/\\evil.com",
        "https://app.acme.test\\@evil.com/connect",
        "https://app.acme.test/connect\t/x",
        "/%09/evil.com",
        "//evil.com",
        "https:evil.com",
        "https:///evil.com",
        "https://app.acme.test.evil.com/connect",
        "https://app.acme.test@evil.com/connect",
        "https://app%2eacme%2etest%2fconnect%2f:y@evil.com",
        "https://app.acme.test/connect%2f..%2fadmin",
        "https://app.acme.test/connect/%2e%2e/admin",
        "https://app.acme.test/connect/..;/admin",
        "https://app.acme.test/connect/../admin",
        // NFKC look-alikes of `..` (U+2025, U+FE30), raw and percent-encoded.
        "https://app.acme.test/connect/\u{2025}/admin",
        "https://app.acme.test/connect/%E2%80%A5/admin",
        "https://app.acme.test/connect/\u{fe30}/admin",
        "https://app.acme.test/connectx",
        "https://app.acme.test/CONNECT",
        "https://badapp.acme.test/connect",
        "https://evilapp.acme.test/connect",
        "http://app.acme.test/connect",
        "https://app.acme.test:8443/connect",
        "javascript:alert(1)",
        "https://app.acme.test./connect",
        "connect",
    ] {
        let r = h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(bad)), Some(KEY1)).await;
        r.assert_error(400, "return_url_not_allowed");
        assert!(!r.text().contains("evil"), "the message echoes input: {}", r.text());
    }
}

// ------------------------------------------------------------------ every error code

pub async fn every_error_code_is_answered_with_its_status_and_shape<S: Harness>() {
    let h = H::<S>::new().await;
    let mut seen = std::collections::HashSet::new();
    let mut check = |r: Resp, status: u16, code: ErrorCode| {
        assert_eq!(code.status().as_u16(), status);
        r.assert_error(status, code.as_str());
        seen.insert(code);
    };
    // unauthorized
    check(h.get("/v1/accounts", None).await, 401, ErrorCode::Unauthorized);
    check(h.get("/v1/accounts", Some("nope_nope_nope_nope_nope")).await, 401, ErrorCode::Unauthorized);
    check(h.get(&format!("/v1/accounts?api_key={KEY1}"), None).await, 401, ErrorCode::Unauthorized);
    // app_not_configured before any app exists
    check(
        h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(RETURN)), Some(KEY1)).await,
        404,
        ErrorCode::AppNotConfigured,
    );
    let app_id = h.create_app(KEY1).await;
    // not_found
    check(h.get("/v1/oauth-apps/app_doesnotexist", Some(KEY1)).await, 404, ErrorCode::NotFound);
    check(h.get("/v1/oauth-apps/garbage!", Some(KEY1)).await, 404, ErrorCode::NotFound);
    check(
        h.get(&format!("/v1/oauth/nope/start?return_url={}", enc(RETURN)), Some(KEY1)).await,
        404,
        ErrorCode::NotFound,
    );
    check(h.get("/v1/accounts/acc_nope", Some(KEY1)).await, 404, ErrorCode::NotFound);
    // method_not_allowed
    let r = h.req(Method::PUT, "/v1/accounts", Some(KEY1), None).await;
    assert_eq!(r.header("allow"), Some("GET, POST"));
    check(r, 405, ErrorCode::MethodNotAllowed);
    // invalid_json
    let bad_json = Request::builder()
        .method("POST")
        .uri("/v1/oauth-apps")
        .header("authorization", format!("Bearer {KEY1}"))
        .header("content-type", "application/json")
        .body(Bytes::from("{not json"))
        .unwrap();
    check(h.send(bad_json).await, 400, ErrorCode::InvalidJson);
    let mut body = h.app_body();
    body["allowed_return_urls"] = json!("https://a.test/");
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await, 400, ErrorCode::InvalidJson);
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(json!([1, 2]))).await, 400, ErrorCode::InvalidJson);
    // invalid_request
    check(h.get("/v1/oauth/mock/start", Some(KEY1)).await, 400, ErrorCode::InvalidRequest);
    check(
        h.get(&format!("/v1/oauth/mock/start?return_url={0}&return_url={0}", enc(RETURN)), Some(KEY1)).await,
        400,
        ErrorCode::InvalidRequest,
    );
    check(h.get("/v1/accounts?limit=0", Some(KEY1)).await, 400, ErrorCode::InvalidRequest);
    check(h.get("/v1/accounts?limit=101", Some(KEY1)).await, 400, ErrorCode::InvalidRequest);
    check(h.get("/v1/accounts?cursor=%%%", Some(KEY1)).await, 400, ErrorCode::InvalidRequest);
    check(h.get("/v1/accounts?cursor=bm9wZQ", Some(KEY1)).await, 400, ErrorCode::InvalidRequest);
    check(
        h.get(&format!("/v1/oauth/mock/start?return_url={}&scopes=admin", enc(RETURN)), Some(KEY1)).await,
        400,
        ErrorCode::InvalidRequest,
    );
    check(
        h.req(Method::DELETE, &format!("/v1/oauth-apps/{app_id}?cascade=maybe"), Some(KEY1), None).await,
        400,
        ErrorCode::InvalidRequest,
    );
    // return_url_not_allowed
    check(
        h.get(&format!("/v1/oauth/mock/start?return_url={}", enc("https://evil.test/")), Some(KEY1)).await,
        400,
        ErrorCode::ReturnUrlNotAllowed,
    );
    // unsupported_media_type
    let text = Request::builder()
        .method("POST")
        .uri("/v1/oauth-apps")
        .header("authorization", format!("Bearer {KEY1}"))
        .header("content-type", "text/plain")
        .body(Bytes::from(serde_json::to_vec(&h.app_body()).unwrap()))
        .unwrap();
    check(h.send(text).await, 415, ErrorCode::UnsupportedMediaType);
    // payload_too_large
    let mut big = h.app_body();
    big["name"] = json!("x".repeat(70 * 1024));
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(big)).await, 413, ErrorCode::PayloadTooLarge);
    // uri_too_long
    check(h.get(&format!("/v1/accounts?x={}", "a".repeat(9000)), Some(KEY1)).await, 414, ErrorCode::UriTooLong);
    // validation_failed
    for patch in [
        json!({"provider": "nope"}),
        json!({"client_secret": ""}),
        json!({"client_id": ""}),
        json!({"allowed_return_urls": []}),
        json!({"allowed_return_urls": ["https://*.acme.test/"]}),
        json!({"allowed_return_urls": ["http://public.example/"]}),
        json!({"allowed_return_urls": ["https://a.test/?q=1"]}),
        json!({"token_url": "https://evil.test/token"}),
        json!({"scopes": ["a b"]}),
    ] {
        let mut body = h.app_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await, 422, ErrorCode::ValidationFailed);
    }
    let mut body = h.app_body();
    body.as_object_mut().unwrap().remove("client_id");
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await, 422, ErrorCode::ValidationFailed);
    let many: Vec<String> = (0..101).map(|i| format!("https://a{i}.test/")).collect();
    let mut body = h.app_body();
    body["allowed_return_urls"] = json!(many);
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await, 422, ErrorCode::ValidationFailed);
    let mut body = h.app_body();
    body["allowed_return_urls"] = json!([format!("https://a.test/{}", "p".repeat(2100))]);
    check(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await, 422, ErrorCode::ValidationFailed);
    // app_id_required
    let second = h.create_app(KEY1).await;
    check(
        h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(RETURN)), Some(KEY1)).await,
        422,
        ErrorCode::AppIdRequired,
    );
    let ok = h.get(&format!("/v1/oauth/mock/start?return_url={}&app_id={second}", enc(RETURN)), Some(KEY1)).await;
    assert_eq!(ok.status, StatusCode::OK);
    // app_in_use
    let cb = h.consent(ok.json()["authorize_url"].as_str().unwrap()).await;
    assert_eq!(h.callback(&cb).await.status, StatusCode::FOUND);
    check(h.req(Method::DELETE, &format!("/v1/oauth-apps/{second}"), Some(KEY1), None).await, 409, ErrorCode::AppInUse);
    // invalid_token
    check(
        h.req(
            Method::POST,
            "/v1/accounts",
            Some(KEY1),
            Some(json!({"provider": "mock", "access_token": "not-a-token"})),
        )
        .await,
        422,
        ErrorCode::InvalidToken,
    );
    // provider_error
    h.mock.set_behavior(MockBehavior::default().with_userinfo_status(503));
    let token = h.mock.issue_access_token(&h.mock.user());
    check(
        h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "mock", "access_token": token}))).await,
        502,
        ErrorCode::ProviderError,
    );
    h.mock.set_behavior(MockBehavior::default());
    // server_error, with nothing of the cause in the body
    h.store.fail.store(true, Ordering::SeqCst);
    let r = h.get("/v1/accounts", Some(KEY1)).await;
    assert!(!r.text().contains("hunter2") && !r.text().contains("exploded"));
    assert_eq!(r.json()["error"]["message"], "internal server error");
    check(r, 500, ErrorCode::ServerError);
    h.store.fail.store(false, Ordering::SeqCst);

    // too_many_pending_flows, with Retry-After: when the earliest pending flow expires
    let capped = H::<S>::with(MockConfig::default(), |b| b.max_pending_flows(1)).await;
    capped.create_app(KEY1).await;
    let start = format!("/v1/oauth/mock/start?return_url={}", enc(RETURN));
    assert_eq!(capped.get(&start, Some(KEY1)).await.status, StatusCode::OK);
    let r = capped.get(&start, Some(KEY1)).await;
    assert_eq!(r.header("retry-after"), Some("600"));
    check(r, 429, ErrorCode::TooManyPendingFlows);

    let all: std::collections::HashSet<_> = ErrorCode::ALL.iter().copied().collect();
    assert_eq!(seen, all, "every documented error code is exercised");
}

pub async fn a_forged_query_api_key_or_cookie_is_not_a_credential<S: Harness>() {
    let h = H::<S>::new().await;
    let r = h.get(&format!("/v1/oauth/mock/start?return_url={}&api_key={KEY1}", enc(RETURN)), None).await;
    r.assert_error(401, "unauthorized");
    let req =
        Request::builder().uri("/v1/accounts").header("cookie", format!("api_key={KEY1}")).body(Bytes::new()).unwrap();
    h.send(req).await.assert_error(401, "unauthorized");
}

// ------------------------------------------------------------------ tenants

pub async fn a_tenant_never_sees_or_touches_another_tenants_objects<S: Harness>() {
    let h = H::<S>::new().await;
    h.connect_once().await;
    let app_id = h.get("/v1/oauth-apps", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().to_owned();
    let acc_id = h.get("/v1/accounts", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().to_owned();
    h.get(&format!("/v1/oauth-apps/{app_id}"), Some(KEY2)).await.assert_error(404, "not_found");
    h.req(Method::PATCH, &format!("/v1/oauth-apps/{app_id}"), Some(KEY2), Some(json!({"name": "x"})))
        .await
        .assert_error(404, "not_found");
    h.req(Method::DELETE, &format!("/v1/oauth-apps/{app_id}"), Some(KEY2), None).await.assert_error(404, "not_found");
    h.get(&format!("/v1/accounts/{acc_id}"), Some(KEY2)).await.assert_error(404, "not_found");
    h.req(Method::DELETE, &format!("/v1/accounts/{acc_id}"), Some(KEY2), None).await.assert_error(404, "not_found");
    assert_eq!(h.get("/v1/oauth-apps", Some(KEY2)).await.json()["data"], json!([]));
    assert_eq!(h.get("/v1/accounts", Some(KEY2)).await.json()["data"], json!([]));
    h.get(&format!("/v1/oauth/mock/start?return_url={}&app_id={app_id}", enc(RETURN)), Some(KEY2))
        .await
        .assert_error(404, "not_found");
    h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(RETURN)), Some(KEY2))
        .await
        .assert_error(404, "app_not_configured");
    // Tenant 1 still has everything.
    assert_eq!(h.get(&format!("/v1/accounts/{acc_id}"), Some(KEY1)).await.status, StatusCode::OK);
}

pub async fn a_tenant_two_flow_never_creates_a_tenant_one_account<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    h.create_app(KEY2).await;
    let cb = h.consent(&h.start_default(KEY2).await).await;
    assert_eq!(h.callback(&cb).await.status, StatusCode::FOUND);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
    assert_eq!(h.get("/v1/accounts", Some(KEY2)).await.json()["data"].as_array().unwrap().len(), 1);
}

// ------------------------------------------------------------------ accounts

pub async fn an_account_registered_from_a_token_is_checked_and_listed<S: Harness>() {
    let h = H::<S>::new().await;
    let app_id = h.create_app(KEY1).await;
    let token = h.mock.issue_access_token(&MockUser::new("direct-1", "direct", "Direct User"));
    let r = h
        .req(
            Method::POST,
            "/v1/accounts",
            Some(KEY1),
            Some(json!({
                "provider": "mock", "access_token": token, "expires_at": "2026-02-01T00:00:00Z",
                "app_id": app_id, "external_id": "user-9"
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc["provider_account_id"], "direct-1");
    assert_eq!(acc["external_id"], "user-9");
    assert_eq!(acc["token_expires_at"], "2026-02-01T00:00:00Z");
    assert!(!r.text().contains(&token));
    h.req(Method::POST, "/v1/accounts", Some(KEY1), Some(json!({"provider": "nope", "access_token": "x"})))
        .await
        .assert_error(422, "validation_failed");
    h.req(
        Method::POST,
        "/v1/accounts",
        Some(KEY1),
        Some(json!({"provider": "mock", "access_token": token, "app_id": "app_nope"})),
    )
    .await
    .assert_error(404, "not_found");
    h.req(
        Method::POST,
        "/v1/accounts",
        Some(KEY1),
        Some(json!({"provider": "mock", "access_token": token, "expires_at": "tomorrow"})),
    )
    .await
    .assert_error(422, "validation_failed");
}

pub async fn deleting_an_account_revokes_at_the_provider_and_removes_it<S: Harness>() {
    let h = H::<S>::new().await;
    let id = h.connect_once().await.location_param("account_id").unwrap();
    let r = h.req(Method::DELETE, &format!("/v1/accounts/{id}"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_eq!(h.mock.counts().revoke, 2, "the refresh token, then the access token");
    h.get(&format!("/v1/accounts/{id}"), Some(KEY1)).await.assert_error(404, "not_found");
}

pub async fn deleting_an_app_in_use_needs_cascade_which_removes_its_accounts<S: Harness>() {
    let h = H::<S>::new().await;
    h.connect_once().await;
    let app_id = h.get("/v1/oauth-apps", Some(KEY1)).await.json()["data"][0]["id"].as_str().unwrap().to_owned();
    h.req(Method::DELETE, &format!("/v1/oauth-apps/{app_id}"), Some(KEY1), None).await.assert_error(409, "app_in_use");
    let r = h.req(Method::DELETE, &format!("/v1/oauth-apps/{app_id}?cascade=true"), Some(KEY1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("/v1/accounts", Some(KEY1)).await.json()["data"], json!([]));
    h.get(&format!("/v1/oauth-apps/{app_id}"), Some(KEY1)).await.assert_error(404, "not_found");
}

pub async fn lists_page_with_limit_and_cursor<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    for i in 0..5 {
        h.mock.set_user(MockUser::new(format!("u{i}"), format!("user{i}"), "U"));
        h.clock.advance(time::Duration::seconds(1));
        let cb = h.consent(&h.start_default(KEY1).await).await;
        assert_eq!(h.callback(&cb).await.status, StatusCode::FOUND);
    }
    let mut seen = Vec::new();
    let mut uri = "/v1/accounts?limit=2".to_owned();
    loop {
        let page = h.get(&uri, Some(KEY1)).await.json();
        for a in page["data"].as_array().unwrap() {
            seen.push(a["provider_account_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/accounts?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
}

pub async fn a_start_response_is_not_cacheable_and_its_state_holds_no_verifier<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let r = h.get(&format!("/v1/oauth/mock/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["state_expires_at"], "2026-01-01T00:10:00Z");
    let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
    assert!(url.query_pairs().all(|(k, _)| k != "code_verifier"));
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&state).unwrap();
    assert!(raw.len() < 100, "the state is short and opaque: {} bytes", raw.len());
}

// ------------------------------------------------------------------ the host app is untouched

pub async fn host_routes_middleware_and_404s_are_untouched_with_connect_mounted<S: Harness>() {
    let h = H::<S>::new().await;
    let get = |uri: &str, id: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(id) = id {
            b = b.header(REQUEST_ID, id);
        }
        h.send_raw(b.body(Bytes::new()).unwrap())
    };
    let r = get("/", None).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "host home"));
    assert_eq!(r.header(REQUEST_ID), Some(GENERATED_ID));
    let r = get("/host/ping", Some("req-42")).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "pong"));
    assert_eq!(r.header(REQUEST_ID), Some("req-42"));
    for path in ["/nope".to_owned(), format!("{}/v10/accounts", S::OUTER), "/v1x".to_owned()] {
        let r = get(&path, Some("req-404")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.body.is_empty(), "{path}: the host's own 404, not ours: {}", r.text());
        assert_eq!(r.header(REQUEST_ID), Some("req-404"), "{path}");
    }
    // Under the prefix but not a route: the layer leaves it to the host, the router and the
    // scope claim it.
    let r = get(&format!("{}/v1/not-a-connect-route", S::OUTER), None).await;
    if S::CLAIMS_PREFIX {
        r.assert_error(404, "not_found");
    } else {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.is_empty(), "the host's own 404: {}", r.text());
        let r = get("/v1/host-owned", None).await;
        assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "host route under the prefix"));
    }
    assert_eq!(r.header(REQUEST_ID), Some(GENERATED_ID));
    // Connect's own answers pass through the host's middleware too.
    let r = h
        .send(
            Request::get("/v1/accounts")
                .header("authorization", format!("Bearer {KEY1}"))
                .header(REQUEST_ID, "req-7")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(REQUEST_ID), Some("req-7"));
    let r = h.connect_once().await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header(REQUEST_ID), Some(GENERATED_ID));
}

// ------------------------------------------------------------------ the adapter adds and drops nothing

/// Sends `make()` through the harness and straight to `Connect::handle`, and checks that the
/// status, the body and every header Connect set (each value) are the same.
async fn assert_same_as_handle<S: Harness>(h: &H<S>, make: impl Fn() -> Request<Bytes>) {
    let direct = h.connect.handle(make()).await;
    let via = h.send(make()).await;
    let what = format!("{} {}", make().method(), make().uri());
    assert_eq!(via.status, direct.status(), "{what}: {}", via.text());
    assert_eq!(via.body, direct.body(), "{what}");
    for name in direct.headers().keys() {
        let want: Vec<_> = direct.headers().get_all(name).iter().collect();
        let got: Vec<_> = via.headers.get_all(name).iter().collect();
        assert_eq!(got, want, "{what}: header {name}");
    }
}

pub async fn every_status_body_and_header_connect_sets_passes_through_the_adapter_unchanged<S: Harness>() {
    let h = H::<S>::new().await;
    h.create_app(KEY1).await;
    let key = format!("Bearer {KEY1}");
    let get = |uri: String, auth: bool| {
        let key = key.clone();
        move || {
            let mut b = Request::get(uri.as_str());
            if auth {
                b = b.header("authorization", key.as_str());
            }
            b.body(Bytes::new()).unwrap()
        }
    };
    assert_same_as_handle(&h, get("/v1/accounts".into(), false)).await;
    assert_same_as_handle(&h, get("/v1/accounts".into(), true)).await;
    assert_same_as_handle(&h, get("/v1/oauth-apps".into(), true)).await;
    assert_same_as_handle(&h, get("/v1/oauth-apps/app_nope".into(), true)).await;
    assert_same_as_handle(&h, get("/v1/oauth-apps/%61pp_nope".into(), true)).await;
    assert_same_as_handle(&h, get("/v1/oauth/mock/start".into(), true)).await;
    assert_same_as_handle(&h, get(format!("/v1/oauth/mock/start?return_url={}", enc("https://evil.test/")), true))
        .await;
    assert_same_as_handle(&h, get(format!("/v1/accounts?x={}", "a".repeat(9000)), true)).await;
    assert_same_as_handle(&h, get("/v1/oauth/mock/callback?code=c&state=forged".into(), false)).await;
    assert_same_as_handle(&h, get("/v1/oauth/mock/callback".into(), false)).await;
    assert_same_as_handle(&h, get("/v1/oauth/mock/callback?error=access_denied&state=x".into(), false)).await;
    if S::CLAIMS_PREFIX {
        for path in ["/v1", "/v1/", "/v1/nope", "/v1/accounts/", "/v1/oauth/mock"] {
            assert_same_as_handle(&h, get(path.into(), true)).await;
        }
    }
    for (method, path) in
        [("PUT", "/v1/accounts"), ("DELETE", "/v1/oauth/mock/start"), ("POST", "/v1/oauth/mock/callback")]
    {
        assert_same_as_handle(&h, || Request::builder().method(method).uri(path).body(Bytes::new()).unwrap()).await;
    }
    let post = |content_type: &'static str, body: Bytes| {
        let key = key.clone();
        move || {
            Request::post("/v1/oauth-apps")
                .header("authorization", key.as_str())
                .header("content-type", content_type)
                .body(body.clone())
                .unwrap()
        }
    };
    assert_same_as_handle(&h, post("text/plain", Bytes::from_static(b"{}"))).await;
    assert_same_as_handle(&h, post("application/json", Bytes::from_static(b"{not json"))).await;
    assert_same_as_handle(&h, post("application/json", Bytes::from_static(b"{}"))).await;
    assert_same_as_handle(&h, post("application/json", Bytes::from(vec![b' '; 64 * 1024 + 1]))).await;
    // A successful redirect: the same headers (the Location differs only in its account).
    let cb = h.consent(&h.start_default(KEY1).await).await;
    let r = h.callback(&cb).await;
    for name in ["cache-control", "x-content-type-options", "referrer-policy"] {
        assert!(r.header(name).is_some(), "{name}");
    }
    assert!(r.header("content-type").is_none());
    let r = h
        .req(Method::DELETE, &format!("/v1/accounts/{}", r.location_param("account_id").unwrap()), Some(KEY1), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty() && r.header("content-type").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

pub async fn every_route_answers_a_wrong_method_with_405_and_its_allow_header<S: Harness>() {
    let h = H::<S>::new().await;
    for (method, path, allow) in [
        (Method::PUT, "/v1/oauth-apps", "GET, POST"),
        (Method::DELETE, "/v1/oauth-apps", "GET, POST"),
        (Method::POST, "/v1/oauth-apps/app_1", "GET, PATCH, DELETE"),
        (Method::POST, "/v1/oauth/mock/start", "GET"),
        (Method::PUT, "/v1/oauth/mock/callback", "GET"),
        (Method::PATCH, "/v1/accounts", "GET, POST"),
        (Method::PATCH, "/v1/accounts/acc_1", "GET, DELETE"),
        (Method::OPTIONS, "/v1/accounts", "GET, POST"),
        (Method::DELETE, "/v1/oauth/selections/sel_1", "GET, POST"),
    ] {
        let r = h.req(method.clone(), path, Some(KEY1), None).await;
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
}

pub async fn the_limits_are_connects_own_at_the_exact_boundaries<S: Harness>() {
    let h = H::<S>::with(MockConfig::default(), |b| b.max_body_bytes(2048).max_url_bytes(1024)).await;
    let post = |n: usize| {
        Request::post("/v1/oauth-apps")
            .header("authorization", format!("Bearer {KEY1}"))
            .header("content-type", "application/json")
            .body(Bytes::from(vec![b' '; n]))
            .unwrap()
    };
    // At the limit the body is read and judged (blank is not JSON); one byte over is 413.
    h.send(post(2048)).await.assert_error(400, "invalid_json");
    let r = h.send(post(2049)).await;
    r.assert_error(413, "payload_too_large");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("2048"));
    h.send(post(1024 * 1024)).await.assert_error(413, "payload_too_large");
    // The URL limit counts path and query as Connect sees them.
    let uri = |n: usize| format!("/v1/accounts?x={}", "a".repeat(n - "/v1/accounts?x=".len()));
    assert_eq!(h.get(&uri(1024), Some(KEY1)).await.status, StatusCode::OK);
    h.get(&uri(1025), Some(KEY1)).await.assert_error(414, "uri_too_long");
}

pub async fn a_request_refused_on_its_head_is_answered_without_waiting_for_its_body<S: Harness>() {
    let h = H::<S>::new().await;
    // A client that sends 1 KiB of a declared 60 KB body and then stalls; `None` when no
    // answer came within a second.
    let stalled = |method: Method, uri: &str, key: Option<&str>, len: usize| {
        let mut b = Request::builder().method(method).uri(uri).header("content-type", "application/json");
        b = b.header("content-length", len);
        if let Some(k) = key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        h.send_stalled(b.body(()).unwrap(), Bytes::from(vec![b' '; 1024]))
    };
    let answered = |what: &str, r: Option<Resp>| r.unwrap_or_else(|| panic!("{what}: no answer without the body"));
    // No key, or one that is not a key: 401 from the headers.
    let r = answered("no key", stalled(Method::POST, "/v1/accounts", None, 60_000).await);
    r.assert_error(401, "unauthorized");
    let bad_key = stalled(Method::POST, "/v1/oauth-apps", Some("not_a_known_key_0123456789"), 60_000).await;
    answered("a bad key", bad_key).assert_error(401, "unauthorized");
    // A wrong method, a declared body over the limit, an unknown route (where Connect claims
    // the prefix): answered from the head too, with or without a key.
    let put = stalled(Method::PUT, "/v1/accounts", Some(KEY1), 60_000).await;
    answered("a wrong method", put).assert_error(405, "method_not_allowed");
    let over = stalled(Method::POST, "/v1/accounts", Some(KEY1), 64 * 1024 + 1).await;
    answered("a declared length over the limit", over).assert_error(413, "payload_too_large");
    if S::CLAIMS_PREFIX {
        let nowhere = stalled(Method::POST, "/v1/nowhere", None, 60_000).await;
        answered("an unknown route", nowhere).assert_error(404, "not_found");
    }
    // With a good key the body is awaited: the stall is real (the host's body-read timeout
    // is what ends it).
    assert!(stalled(Method::POST, "/v1/accounts", Some(KEY1), 60_000).await.is_none());
    assert_eq!(h.store.calls(), 0);
}

pub async fn an_empty_prefix_serves_the_routes_at_the_mount_point<S: Harness>() {
    let h = H::<S>::with(MockConfig::default(), |b| b.prefix("")).await;
    let r = h.req(Method::POST, "/oauth-apps", Some(KEY1), Some(h.app_body())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["redirect_uri"], format!("{BASE}{}/oauth/mock/callback", S::OUTER));
    let r = h.get(&format!("/oauth/mock/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let to = h.mock.consent(r.json()["authorize_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(to.path(), format!("{}/oauth/mock/callback", S::OUTER));
    let r =
        h.send_raw(Request::get(format!("{}?{}", to.path(), to.query().unwrap())).body(Bytes::new()).unwrap()).await;
    assert_eq!(r.location_param("connected").as_deref(), Some("mock"));
    assert_eq!(h.get("/accounts", Some(KEY1)).await.json()["data"].as_array().unwrap().len(), 1);
    h.req(Method::PUT, "/accounts", Some(KEY1), None).await.assert_error(405, "method_not_allowed");
    // The host's page at `/` is still the host's.
    let r = h.send_raw(Request::get("/").body(Bytes::new()).unwrap()).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "host home"));
}

// ------------------------------------------------------------------ target selection

pub async fn a_target_selection_is_read_and_chosen_once_with_a_key<S: Harness>() {
    use dravo_connect::SelectionId;
    use dravo_connect::provider::TargetType;
    use dravo_connect::store::{SelectionRecord, SelectionTarget};

    let h = H::<S>::new().await;
    let person_id = h.connect_once().await.location_param("account_id").unwrap();
    // The mock lists no targets: the selection a Facebook-like callback would store.
    let id = SelectionId::generate();
    let now = time::OffsetDateTime::from_unix_timestamp(START.unix_timestamp()).unwrap();
    let board = |id: &str, name: &str| {
        let mut target = SelectionTarget::new(id, TargetType::Board);
        target.display_name = Some(name.to_owned());
        target
    };
    let selection = SelectionRecord::new(
        id.clone(),
        tenant("t1"),
        "mock".parse().unwrap(),
        person_id.parse().unwrap(),
        vec![board("b1", "Recipes"), board("b2", "Travel")],
        now,
        now + time::Duration::minutes(10),
    );
    h.connect.store().selections().unwrap().insert_selection(&selection).await.unwrap();
    let path = format!("/v1/oauth/selections/{id}");

    h.get(&path, None).await.assert_error(401, "unauthorized");
    h.req(Method::POST, &path, None, Some(json!({"target_ids": ["b1"]}))).await.assert_error(401, "unauthorized");
    h.get(&path, Some(KEY2)).await.assert_error(404, "not_found");
    h.get("/v1/oauth/selections/sel_unknown", Some(KEY1)).await.assert_error(404, "not_found");
    let r = h.get(&path, Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["targets"][1]["display_name"], "Travel");
    assert_eq!(r.json()["parent_account_id"], person_id.as_str());
    h.req(Method::POST, &path, Some(KEY1), Some(json!({"target_ids": ["b3"]})))
        .await
        .assert_error(422, "validation_failed");

    let r = h.req(Method::POST, &path, Some(KEY1), Some(json!({"target_ids": ["b2"]}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let account = &r.json()["data"][0];
    assert_eq!(account["target_type"], "board");
    assert_eq!(account["provider_account_id"], "b2");
    assert_eq!(account["parent_account_id"], person_id.as_str());
    assert!(!r.text().contains("mock_at_"), "no token in the answer");
    // A board publishes with the person's token.
    let t1 = tenant("t1");
    let board_token = h.connect.access_token(&t1, &account["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
    let person_token = h.connect.access_token(&t1, &person_id.parse().unwrap()).await.unwrap();
    assert_eq!(board_token.expose_secret(), person_token.expose_secret());
    h.req(Method::POST, &path, Some(KEY1), Some(json!({"target_ids": ["b1"]}))).await.assert_error(404, "not_found");
    // Expired: the board renews through the person, whose (rotating) refresh token is used
    // once; the board and the person then hand out the same new token.
    h.clock.advance(time::Duration::hours(2));
    h.mock.expire_access_tokens();
    let board_id = account["id"].as_str().unwrap().parse().unwrap();
    let renewed = h.connect.access_token(&t1, &board_id).await.unwrap();
    assert_ne!(renewed.expose_secret(), board_token.expose_secret());
    assert_eq!(h.mock.counts().token_refresh, 1);
    let person_now = h.connect.access_token(&t1, &person_id.parse().unwrap()).await.unwrap();
    assert_eq!(person_now.expose_secret(), renewed.expose_secret());
    assert_eq!(h.connect.access_token(&t1, &board_id).await.unwrap().expose_secret(), renewed.expose_secret());
    assert_eq!(h.mock.counts().token_refresh, 1, "no second refresh");
}
