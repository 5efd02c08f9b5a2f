//! The provider seam from a host's side: a provider written outside the crate renews as it
//! implements (whatever it describes), and the builder chooses, replaces and turns off
//! providers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use dravo_connect::http_client::HttpClient;
use dravo_connect::provider::{
    self, AuthorizeRequest, CodeFlow, GenericProvider, Profile, Provider, ProviderContext, ProviderError, Reexchange,
    Renewal, TokenSet,
};
use dravo_connect::{AccountId, ProviderId, Secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::harness::*;

/// A third-party provider on the mock whose tokens are renewed by re-exchange. It describes
/// nothing itself: its capabilities are the default, derived from what it implements.
#[derive(Debug)]
struct Swapper {
    inner: GenericProvider,
    swaps: AtomicUsize,
}

impl Provider for Swapper {
    fn id(&self) -> &ProviderId {
        self.inner.id()
    }
    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        Some(self)
    }
}

#[async_trait]
impl CodeFlow for Swapper {
    fn default_scopes(&self) -> &[String] {
        self.inner.default_scopes()
    }
    fn uses_pkce(&self) -> bool {
        self.inner.uses_pkce()
    }
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        self.inner.authorize_url(request)
    }
    async fn exchange_code(
        &self,
        ctx: ProviderContext<'_>,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<&Secret<String>>,
    ) -> Result<TokenSet, ProviderError> {
        self.inner.exchange_code(ctx, code, redirect_uri, pkce_verifier).await
    }
    async fn fetch_profile(
        &self,
        http: &dyn HttpClient,
        access_token: &Secret<String>,
    ) -> Result<Profile, ProviderError> {
        self.inner.fetch_profile(http, access_token).await
    }
    fn renewal(&self) -> Renewal<'_> {
        Renewal::Reexchange(self)
    }
}

#[async_trait]
impl Reexchange for Swapper {
    async fn reexchange(&self, _: ProviderContext<'_>, _: &Secret<String>) -> Result<TokenSet, ProviderError> {
        let n = self.swaps.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(TokenSet {
            access_token: Secret::new(format!("swapped-{n}")),
            refresh_token: None,
            expires_in: Some(60 * 86_400),
            scopes: None,
        })
    }
}

async fn listed(h: &H) -> Vec<Value> {
    let r = h.get("/v1/providers", Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

/// `h` rebuilt with the mock and the provider `f` makes added in code.
fn with_provider(h: H, f: impl FnOnce(&H) -> Arc<dyn Provider>) -> H {
    let added = f(&h);
    let connect = base_builder(&h.store, &h.clock)
        .provider_config(h.mock.provider_config("mock"))
        .provider(added)
        .build()
        .unwrap();
    let app = axum::Router::new().layer(dravo_connect::ConnectLayer::new(connect.clone()));
    H { connect, app, mock: h.mock, clock: h.clock, store: h.store }
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|p| p["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_provider_that_implements_re_exchange_is_re_exchanged_without_describing_it() {
    let mut swapper = None;
    let h = with_provider(H::new().await, |h| {
        let s = Arc::new(Swapper {
            inner: GenericProvider::from_config(&h.mock.provider_config("swapper")).unwrap(),
            swaps: AtomicUsize::new(0),
        });
        swapper = Some(s.clone());
        s
    });
    let swapper = swapper.unwrap();

    let mut body = h.app_body();
    body["provider"] = json!("swapper");
    assert_eq!(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await.status, StatusCode::CREATED);
    let r = h.get(&format!("/v1/oauth/swapper/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let to = h.mock.consent(r.json()["authorize_url"].as_str().unwrap()).await.unwrap();
    let r = h.callback(&format!("{}?{}", to.path(), to.query().unwrap())).await;
    let id: AccountId = r.location_param("account_id").unwrap().parse().unwrap();

    // The mock's token lives an hour: inside the re-exchange margin at once.
    let token = h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    assert_eq!(token.expose_secret(), "swapped-1");
    assert_eq!(swapper.swaps.load(Ordering::SeqCst), 1);
    // Renewed for 60 days: handed out as it is.
    let again = h.connect.access_token(&tenant("t1"), &id).await.unwrap();
    assert_eq!(again.expose_secret(), "swapped-1");
    assert_eq!(swapper.swaps.load(Ordering::SeqCst), 1);

    // The description follows from what it implements.
    let list = listed(&h).await;
    let row = list.iter().find(|p| p["id"] == "swapper").unwrap();
    assert_eq!(row["capabilities"]["refresh"], json!({"kind": "reexchange", "min_age_secs": null}));
    assert_eq!(row["capabilities"]["login"], "oauth2");
}

#[tokio::test]
async fn the_builder_chooses_replaces_and_turns_off_providers() {
    // Chosen: X alone in place of the built-in ones, beside the configured mock.
    let h = H::with(Default::default(), |b| b.providers([provider::builtin("x", None).unwrap()])).await;
    assert_eq!(ids(&listed(&h).await), ["mock", "x"]);
    h.get("/v1/oauth/linkedin/start?return_url=x", Some(KEY1)).await.assert_error(404, "not_found");

    // Turned off: Bluesky is gone, the others stay.
    let h = H::with(Default::default(), |b| b.without_provider("bluesky")).await;
    let list = listed(&h).await;
    assert!(!ids(&list).contains(&"bluesky") && ids(&list).contains(&"mastodon"), "{list:?}");
    let r = h
        .req(
            Method::POST,
            "/v1/accounts",
            Some(KEY1),
            Some(json!({"provider": "bluesky", "identifier": "a.test", "app_password": "abcd-efgh-ijkl-mnop"})),
        )
        .await;
    r.assert_error(422, "validation_failed");

    // Replaced: `x` is now a generic provider on the mock, and a flow runs against it.
    let h = with_provider(H::new().await, |h| {
        Arc::new(GenericProvider::from_config(&h.mock.provider_config("x")).unwrap())
    });
    let list = listed(&h).await;
    let x = list.iter().find(|p| p["id"] == "x").unwrap();
    assert_eq!(x["capabilities"]["refresh"]["rotation"], "unknown", "the generic row, not X's");
    let mut body = h.app_body();
    body["provider"] = json!("x");
    assert_eq!(h.req(Method::POST, "/v1/oauth-apps", Some(KEY1), Some(body)).await.status, StatusCode::CREATED);
    let r = h.get(&format!("/v1/oauth/x/start?return_url={}", enc(RETURN)), Some(KEY1)).await;
    let authorize_url = r.json()["authorize_url"].as_str().unwrap().to_owned();
    assert!(authorize_url.starts_with(&h.mock.authorize_url()), "{authorize_url}");
}

#[test]
fn the_builder_refuses_unknown_duplicate_and_orphaned_providers() {
    let build = |f: &dyn Fn(dravo_connect::ConnectBuilder) -> dravo_connect::ConnectBuilder| {
        let store = Arc::new(crate::faulty_store::FaultyStore::default());
        let clock = Arc::new(dravo_connect::ManualClock::new(START));
        f(base_builder(&store, &clock)).build().err().map(|e| e.to_string())
    };
    assert_eq!(build(&|b| b), None);
    let off = build(&|b| b.without_provider("nope")).unwrap();
    assert!(off.contains("nope") && off.contains("no such provider"), "{off}");
    let x = || provider::builtin("x", None).unwrap();
    let twice = build(&|b| b.providers([x(), x()])).unwrap();
    assert!(twice.contains("defined twice"), "{twice}");
    let orphan = build(&|b| {
        b.providers([x()]).provider_config(provider::BuiltinOverrides::new("x").with_token_url("http://127.0.0.1:1/t"))
    })
    .unwrap();
    assert!(orphan.contains("built-in"), "{orphan}");
    let overridden =
        provider::builtin("x", Some(&provider::BuiltinOverrides::new("x").with_token_url("http://127.0.0.1:1/t")));
    assert!(overridden.is_ok());
    assert!(provider::builtin("nope", None).unwrap_err().to_string().contains("no built-in provider"));
}
