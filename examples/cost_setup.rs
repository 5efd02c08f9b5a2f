//! The Connect the cost examples (`start_cost`, `adapter_cost`) measure: an https base URL,
//! one API key, the memory store and one app for the in-process mock provider whose allowlist
//! holds `https://app.acme.example/connect`. Included with `#[path]`; not an example itself.

use dravo_connect::store::MemoryStore;
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, KeyId, NewApp, Secret, TenantId};

/// The API key the requests carry.
pub const KEY: &str = "bench_key_0123456789abcdef";
/// Its `Authorization` header value.
pub const AUTHORIZATION: &str = "Bearer bench_key_0123456789abcdef";
/// The `start` request's target.
pub const START: &str = "/v1/oauth/mock/start?return_url=https%3A%2F%2Fapp.acme.example%2Fconnect%2Fdone";

/// Connect with its one app; `binding` switches browser binding (on by default for https).
pub async fn connect(mock: &MockProvider, binding: bool) -> Connect {
    let connect = Connect::builder()
        .public_base_url("https://connect.acme.example")
        .api_key(KEY, "bench".parse::<TenantId>().expect("tenant"))
        .state_key(KeyId::zero(), Secret::new(vec![1; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2; 32]))
        .store(MemoryStore::new())
        .outbound_loopback_only(true)
        // A load run starts millions of flows for this one tenant; the cap is not what it measures.
        .max_pending_flows(u32::MAX)
        .provider_config(mock.provider_config("mock"))
        .browser_binding(binding)
        .build()
        .expect("connect");
    let tenant: TenantId = "bench".parse().expect("tenant");
    connect
        .create_app(
            &tenant,
            NewApp::new(
                "mock".parse().unwrap(),
                "mock-client",
                "mock-secret",
                vec!["https://app.acme.example/connect".into()],
            ),
        )
        .await
        .expect("app");
    connect
}
