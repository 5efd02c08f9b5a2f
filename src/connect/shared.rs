//! What the engine's services share: the public URL and prefix, the store, the providers,
//! the clock, the secret box, the outbound client and the host's hooks. Built once by the builder and held by each service through
//! an `Arc`; nothing in it changes after start-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::core::secret_box::{Sealed, SecretBox};
use crate::hooks::{self, ConnectHooks, HookEvent, RefreshEvent};
use crate::http_client::HttpClient;
use crate::provider::Provider;
use crate::store::Store;
use crate::{Clock, Error, ProviderId, Secret, TenantId};

/// The engine's shared dependencies.
pub(crate) struct Shared {
    /// The public base URL, without a trailing slash.
    pub(crate) public_base_url: String,
    /// The route prefix (e.g. `/v1`).
    pub(crate) prefix: String,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: HashMap<ProviderId, Arc<dyn Provider>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) secrets: SecretBox,
    /// The outbound client for the providers' fixed endpoints.
    pub(crate) http: Arc<dyn HttpClient>,
    /// The host's hooks, each run bounded by `hook_timeout`.
    pub(crate) hooks: Option<Arc<dyn ConnectHooks>>,
    pub(crate) hook_timeout: Duration,
}

impl Shared {
    /// Runs the host's hook for `event` (see [`hooks::run`]).
    pub(crate) async fn run_hook(&self, event: HookEvent<'_>) {
        hooks::run(self.hooks.as_deref(), self.hook_timeout, event).await;
    }

    /// Runs the `refreshed` / `refresh_failed` hook for a refresh outcome.
    pub(crate) async fn refresh_hook(&self, tenant: &TenantId, event: RefreshEvent) {
        hooks::report_refresh(self.hooks.as_deref(), self.hook_timeout, tenant, event).await;
    }

    /// Now, to the whole second (as the stores keep times).
    pub(crate) fn now(&self) -> OffsetDateTime {
        whole_seconds(self.clock.now())
    }

    /// The callback URL of a provider: `{public_base_url}{prefix}/oauth/{provider}/callback`.
    pub(crate) fn redirect_uri(&self, provider: &ProviderId) -> String {
        // `concat` sizes the string once: no formatting machinery, one allocation.
        [self.public_base_url.as_str(), &self.prefix, "/oauth/", provider.as_str(), "/callback"].concat()
    }

    /// A sealed secret of row `row`, field `field`, opened; a failure is logged and is a
    /// `server_error`.
    pub(crate) fn open_string(&self, row: &str, field: &str, sealed: &Sealed) -> Result<Secret<String>, Error> {
        self.secrets.open_string(row, field, sealed).map_err(|e| {
            tracing::error!(field, error = %e, "a stored secret could not be opened");
            Error::server(e)
        })
    }
}

/// `t` without its fraction of a second.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).unwrap_or(t)
}
