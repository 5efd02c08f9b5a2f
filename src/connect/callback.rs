//! The OAuth callback, as the steps of the flow: verify the state (before touching the
//! store), take the flow atomically, find its destination (the return URL re-checked against
//! the app's allowlist as it is now), check the browser binding, read the provider's answer
//! (`iss`, `error`, `code`), exchange the code, read the profile and the targets, each
//! bounded, store the account (or a selection of its targets), and redirect.
//!
//! Before a destination is known, every failure is the static `400` page
//! ([`CallbackOutcome::Rejected`]); after it, a failure is a redirect with `oauth_error`.

use std::sync::Arc;

use url::Url;

use super::{Connect, FIELD_CLIENT_SECRET, FIELD_PKCE_VERIFIER, SaveAccount, bounds};
use crate::Secret;
use crate::core::state::VerifiedState;
use crate::http_client::HttpClient;
use crate::provider::{
    ClientCredentials, CodeFlow, Instance, Profile, Provider, ProviderContext, ProviderErrorKind, Target, TargetType,
    TokenSet,
};
use crate::store::{AccountRecord, AppRecord, PendingFlow, TakeFlow};
use crate::{AccountId, Error, OAuthErrorReason, ProviderId, SelectionId};

/// What the callback decided.
#[derive(Debug)]
pub(crate) enum CallbackOutcome {
    /// Send the browser to the (checked) return URL with our parameters.
    Redirect(Url),
    /// No trustworthy destination: a 400 page, no redirect.
    Rejected,
}

/// The callback's query, parsed by the router (duplicates already refused).
#[derive(Debug, Default)]
pub(crate) struct CallbackParams {
    pub(crate) state: Option<String>,
    pub(crate) code: Option<Secret<String>>,
    pub(crate) error: Option<String>,
    pub(crate) iss: Option<String>,
    /// The request's `Cookie` header (for browser binding).
    pub(crate) cookie: Option<String>,
}

/// Parameter names the callback adds to the return URL (and removes from it first).
const OUR_PARAMS: [&str; 4] = ["connected", "account_id", "oauth_error", "selection_id"];

fn with_params(mut url: Url, params: &[(&str, &str)]) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !OUR_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url
}

/// Where a completed flow sends the browser.
enum Landing {
    /// The account was connected.
    Connected(AccountId),
    /// The account's targets await the user's choice.
    Selection(SelectionId),
}

/// The client a flow completes with: the provider (bound to the flow's instance, if any)
/// and the app's credentials there.
struct FlowClient {
    provider: Arc<dyn Provider>,
    client_id: String,
    client_secret: Secret<String>,
}

impl Connect {
    /// The callback, as the steps of the flow (see the module's documentation).
    pub(crate) async fn callback(&self, provider: &ProviderId, params: CallbackParams) -> CallbackOutcome {
        let Some(p) = self.inner.shared.providers.get(provider).cloned() else {
            return CallbackOutcome::Rejected;
        };
        let Some(verified) = self.verify_state(provider, params.state.as_deref()) else {
            return CallbackOutcome::Rejected;
        };
        let flow = match self.claim_flow(&verified).await {
            Ok(flow) => flow,
            Err(outcome) => return outcome,
        };
        if &flow.provider != provider {
            return CallbackOutcome::Rejected;
        }
        let Some((app, destination)) = self.destination(&flow).await else {
            return CallbackOutcome::Rejected;
        };
        let flow_key = verified.flow_id.to_string();
        match self.complete(p, &flow, &flow_key, &app, &params).await {
            Ok(Landing::Connected(account_id)) => CallbackOutcome::Redirect(with_params(
                destination,
                &[("connected", provider.as_str()), ("account_id", account_id.as_str())],
            )),
            Ok(Landing::Selection(id)) => {
                CallbackOutcome::Redirect(with_params(destination, &[("selection_id", id.as_str())]))
            }
            Err(reason) => {
                tracing::info!(flow_id = %flow_key, reason = reason.as_str(), "connect flow failed");
                CallbackOutcome::Redirect(with_params(destination, &[("oauth_error", reason.as_str())]))
            }
        }
    }

    /// The steps once the flow is taken and its destination known; an error is the reason
    /// the browser is told.
    async fn complete(
        &self,
        provider: Arc<dyn Provider>,
        flow: &PendingFlow,
        flow_key: &str,
        app: &AppRecord,
        params: &CallbackParams,
    ) -> Result<Landing, OAuthErrorReason> {
        self.check_browser(flow, params.cookie.as_deref())?;
        let code = provider_answer(provider.as_ref(), params)?;
        let client = self.flow_client(provider, flow, app).await?;
        let tokens = self.exchange_code(&client, flow, flow_key, code).await?;
        let profile = self.read_profile(&client, flow, flow_key, &tokens).await?;
        let targets = self.list_targets(&client, flow_key, &tokens, &profile).await?;
        let account = self.store_account(flow, flow_key, app, profile, tokens).await?;
        if targets.is_empty() {
            return Ok(Landing::Connected(account.id));
        }
        let selection = self.store_selection(flow_key, &account, targets).await?;
        Ok(Landing::Selection(selection))
    }

    /// The state, verified (signature, provider) before the store is touched.
    fn verify_state(&self, provider: &ProviderId, state: Option<&str>) -> Option<VerifiedState> {
        let Some(state) = state else {
            tracing::debug!("callback without state");
            return None;
        };
        match self.inner.signer.verify(provider, state) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(reason = ?e.kind(), "callback with an invalid state");
                None
            }
        }
    }

    /// The flow, taken (consumed) atomically; an expired state or a replay is answered at the
    /// flow's destination, an unknown flow with the `400` page.
    async fn claim_flow(&self, verified: &VerifiedState) -> Result<PendingFlow, CallbackOutcome> {
        let flow_key = verified.flow_id.to_string();
        let now = self.now();
        if now > verified.expires_at {
            tracing::debug!(flow_id = %flow_key, "callback with an expired state");
            return Err(match self.inner.shared.store.get_flow(&verified.flow_id).await {
                Ok(Some(flow)) => self.finish_error(&flow, OAuthErrorReason::StateExpired).await,
                Ok(None) => CallbackOutcome::Rejected,
                Err(e) => {
                    tracing::error!(error = %e, "store failed reading an expired flow");
                    CallbackOutcome::Rejected
                }
            });
        }
        match self.inner.shared.store.take_flow(&verified.flow_id, now).await {
            Ok(TakeFlow::Taken(flow)) => Ok(flow),
            Ok(TakeFlow::AlreadyConsumed(flow)) => {
                tracing::info!(flow_id = %flow_key, "callback replayed");
                Err(self.finish_error(&flow, OAuthErrorReason::StateReused).await)
            }
            Ok(TakeFlow::Missing) => {
                tracing::debug!(flow_id = %flow_key, "callback for an unknown flow");
                Err(CallbackOutcome::Rejected)
            }
            Err(e) => {
                tracing::error!(error = %e, "store failed taking a flow");
                Err(CallbackOutcome::Rejected)
            }
        }
    }

    /// With browser binding on, the flow must come back in the browser the hop bound.
    fn check_browser(&self, flow: &PendingFlow, cookie: Option<&str>) -> Result<(), OAuthErrorReason> {
        if self.inner.browser_binding && !self.binding_matches(flow, cookie) {
            return Err(OAuthErrorReason::BrowserMismatch);
        }
        Ok(())
    }

    /// The provider bound to the flow (its instance's, for an instance flow) and the app's
    /// client credentials, opened.
    async fn flow_client(
        &self,
        provider: Arc<dyn Provider>,
        flow: &PendingFlow,
        app: &AppRecord,
    ) -> Result<FlowClient, OAuthErrorReason> {
        let (provider, client_id, client_secret) = match flow.instance.as_deref() {
            None => match self.open_string(app.id.as_str(), FIELD_CLIENT_SECRET, &app.client_secret) {
                Ok(s) => (provider, app.client_id.clone(), s),
                Err(_) => return Err(OAuthErrorReason::ServerError),
            },
            Some(origin) => self.flow_instance_client(flow, origin).await?,
        };
        Ok(FlowClient { provider, client_id, client_secret })
    }

    /// The client flows of `flow` use: the instance client for an instance's flow.
    fn flow_http(&self, flow: &PendingFlow) -> &dyn HttpClient {
        if flow.instance.is_some() { self.inner.instance_http.as_ref() } else { self.inner.shared.http.as_ref() }
    }

    /// The code exchanged for tokens (with the flow's PKCE verifier), the answer bounded.
    async fn exchange_code(
        &self,
        client: &FlowClient,
        flow: &PendingFlow,
        flow_key: &str,
        code: &Secret<String>,
    ) -> Result<TokenSet, OAuthErrorReason> {
        let verifier = match &flow.pkce_verifier {
            Some(sealed) => match self.open_string(flow_key, FIELD_PKCE_VERIFIER, sealed) {
                Ok(v) => Some(v),
                Err(_) => return Err(OAuthErrorReason::ServerError),
            },
            None => None,
        };
        let code_flow = code_flow(client)?;
        let ctx = ProviderContext {
            http: self.flow_http(flow),
            credentials: ClientCredentials { client_id: &client.client_id, client_secret: &client.client_secret },
        };
        let tokens =
            match code_flow.exchange_code(ctx, code.expose_secret(), &flow.redirect_uri, verifier.as_ref()).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(flow_id = %flow_key, error = %e, "code exchange failed");
                    return Err(match e.kind() {
                        ProviderErrorKind::Rejected | ProviderErrorKind::InvalidResponse => {
                            OAuthErrorReason::TokenExchangeFailed
                        }
                        _ => OAuthErrorReason::ProviderError,
                    });
                }
            };
        // Every provider answer is bounded before anything of it is used or stored.
        if let Err(cap) = bounds::check_tokens(&tokens) {
            tracing::warn!(flow_id = %flow_key, error = %cap, "token response refused");
            return Err(OAuthErrorReason::TokenExchangeFailed);
        }
        Ok(tokens)
    }

    /// The account's profile, bounded.
    async fn read_profile(
        &self,
        client: &FlowClient,
        flow: &PendingFlow,
        flow_key: &str,
        tokens: &TokenSet,
    ) -> Result<Profile, OAuthErrorReason> {
        let code_flow = code_flow(client)?;
        let ctx = ProviderContext {
            http: self.flow_http(flow),
            credentials: ClientCredentials { client_id: &client.client_id, client_secret: &client.client_secret },
        };
        match code_flow.fetch_profile_with(ctx, &tokens.access_token).await.map(bounds::check_profile) {
            Ok(Ok(profile)) => Ok(profile),
            Ok(Err(cap)) => {
                tracing::warn!(flow_id = %flow_key, error = %cap, "profile refused");
                Err(OAuthErrorReason::ProfileFetchFailed)
            }
            Err(e) => {
                tracing::warn!(flow_id = %flow_key, error = %e, "profile fetch failed");
                Err(OAuthErrorReason::ProfileFetchFailed)
            }
        }
    }

    /// The targets (pages, organizations) the account acts for, bounded; none for a
    /// provider without targets.
    async fn list_targets(
        &self,
        client: &FlowClient,
        flow_key: &str,
        tokens: &TokenSet,
        profile: &Profile,
    ) -> Result<Vec<Target>, OAuthErrorReason> {
        let listed = match client.provider.targets() {
            Some(listing) => {
                let ctx = ProviderContext {
                    http: self.inner.shared.http.as_ref(),
                    credentials: ClientCredentials {
                        client_id: &client.client_id,
                        client_secret: &client.client_secret,
                    },
                };
                listing.list_targets_with(ctx, tokens, profile).await.map(bounds::check_targets)
            }
            None => Ok(Ok(Vec::new())),
        };
        match listed {
            Ok(Ok(targets)) => Ok(targets),
            Ok(Err(cap)) => {
                tracing::warn!(flow_id = %flow_key, error = %cap, "targets refused");
                Err(OAuthErrorReason::ProviderError)
            }
            Err(e) => {
                tracing::warn!(flow_id = %flow_key, error = %e, "listing the targets failed");
                Err(OAuthErrorReason::ProviderError)
            }
        }
    }

    /// The account stored (new, or the one it reconnects), and the host's hook run.
    async fn store_account(
        &self,
        flow: &PendingFlow,
        flow_key: &str,
        app: &AppRecord,
        profile: Profile,
        tokens: TokenSet,
    ) -> Result<AccountRecord, OAuthErrorReason> {
        let saved = super::accounts::save(
            &self.inner.shared,
            SaveAccount {
                tenant: &flow.tenant,
                provider: &flow.provider,
                app_id: Some(app.id.clone()),
                external_id: flow.external_id.clone(),
                profile,
                requested_scopes: flow.scopes.clone(),
                tokens,
                expires_at: None,
                target_type: TargetType::Person,
                parent_account_id: None,
            },
        )
        .await;
        let (account, created) = match saved {
            Ok(saved) => saved,
            Err(e) => {
                tracing::error!(flow_id = %flow_key, error = ?e, "storing the account failed");
                return Err(OAuthErrorReason::ServerError);
            }
        };
        tracing::info!(flow_id = %flow_key, account_id = %account.id, provider = %flow.provider, "account connected");
        super::accounts::report_saved(&self.inner.shared, &flow.tenant, &account, created).await;
        Ok(account)
    }

    /// A selection of the account's targets stored; its id.
    async fn store_selection(
        &self,
        flow_key: &str,
        account: &AccountRecord,
        targets: Vec<Target>,
    ) -> Result<SelectionId, OAuthErrorReason> {
        let selection = self.inner.selections.record(account, targets);
        let stored = match self.inner.selections.store() {
            Ok(store) => store.insert_selection(&selection).await.map_err(Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::error!(flow_id = %flow_key, error = %e, "storing the selection failed");
            return Err(OAuthErrorReason::ServerError);
        }
        tracing::info!(
            flow_id = %flow_key,
            selection_id = %selection.id,
            targets = selection.targets.len(),
            "targets await selection"
        );
        Ok(selection.id)
    }

    /// The provider bound to the flow's instance and the app's client there; the instance
    /// passes the SSRF check again (its addresses may have changed since `start`).
    pub(crate) async fn flow_instance_client(
        &self,
        flow: &PendingFlow,
        origin: &str,
    ) -> Result<(Arc<dyn Provider>, String, Secret<String>), OAuthErrorReason> {
        let provider = self.inner.shared.providers.get(&flow.provider).cloned().ok_or(OAuthErrorReason::ServerError)?;
        let registration = provider.registration().ok_or(OAuthErrorReason::ServerError)?;
        let instance =
            Instance::parse(origin, self.inner.allow_private_instances).map_err(|_| OAuthErrorReason::ServerError)?;
        if let Err(e) = self.check_instance_address(&instance).await {
            tracing::warn!(error = %e, "instance refused at callback");
            return Err(OAuthErrorReason::ProviderError);
        }
        match self
            .stored_instance_client(registration, &flow.provider, &flow.tenant, &flow.app_id, &instance.authority())
            .await
        {
            Ok(Some((client, _))) => Ok((client.provider, client.client_id, client.client_secret)),
            Ok(None) => Err(OAuthErrorReason::ServerError),
            Err(e) => {
                tracing::error!(error = ?e, "reading the instance registration failed");
                Err(OAuthErrorReason::ServerError)
            }
        }
    }

    /// The flow's app and its return URL re-checked against the app's allowlist as it is now;
    /// `None` when there is no trustworthy destination.
    pub(crate) async fn destination(&self, flow: &PendingFlow) -> Option<(AppRecord, Url)> {
        let app = match self.inner.shared.store.get_app(&flow.tenant, &flow.app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(error = %e, "store failed reading the flow's app");
                return None;
            }
        };
        let url = self.inner.apps.allowlist_for(&app).ok()?.check(&flow.return_url).ok()?;
        Some((app, url))
    }

    async fn finish_error(&self, flow: &PendingFlow, reason: OAuthErrorReason) -> CallbackOutcome {
        match self.destination(flow).await {
            Some((_, url)) => CallbackOutcome::Redirect(with_params(url, &[("oauth_error", reason.as_str())])),
            None => CallbackOutcome::Rejected,
        }
    }
}

/// The provider's answer: RFC 9207's `iss` first, then `error`, then the `code`.
fn provider_answer<'a>(
    provider: &dyn Provider,
    params: &'a CallbackParams,
) -> Result<&'a Secret<String>, OAuthErrorReason> {
    // RFC 9207: a present `iss` must equal the issuer exactly; a provider that always
    // sends it must send it. Checked before `error` (RFC 9207 §2.4: error responses too),
    // so a forged `error=access_denied` from a mix-up is not reported as the user's denial.
    let (issuer, requires_iss) = provider.code_flow().map_or((None, false), |f| (f.issuer(), f.requires_iss()));
    match (issuer, params.iss.as_deref()) {
        (Some(expected), Some(got)) if expected != got => return Err(OAuthErrorReason::ProviderError),
        (None, Some(_)) | (Some(_), Some(_)) | (None, None) => {}
        (Some(_), None) if requires_iss => return Err(OAuthErrorReason::ProviderError),
        (Some(_), None) => {}
    }
    if let Some(error) = params.error.as_deref() {
        return Err(OAuthErrorReason::from_provider_error(error));
    }
    params.code.as_ref().ok_or(OAuthErrorReason::ProviderError)
}

/// The client's code flow; a provider without one cannot complete a flow.
fn code_flow(client: &FlowClient) -> Result<&dyn CodeFlow, OAuthErrorReason> {
    client.provider.code_flow().ok_or(OAuthErrorReason::ProviderError)
}
