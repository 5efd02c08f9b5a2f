//! Browser binding (RFC 9700 §2.1; SECURITY.md, "CSRF"): the state alone is a bearer
//! credential, so with binding on, `start` answers a hop of ours,
//! `{public_base_url}{prefix}/oauth/{provider}/go?state=…`, instead of the provider's
//! authorize URL. The hop sets a short-lived cookie bound to the flow and redirects the
//! browser to the provider's configured authorize URL; the callback then refuses a flow
//! completed without that cookie (`oauth_error=browser_mismatch`).
//!
//! The hop binds the flow once: the first browser that opens it gets a cookie
//! `dravo_bind_{flow id}={value}`, where the value is 32 random bytes (base64url), drawn for
//! this hop and derivable from nothing in any URL. The flow's row keeps only the value's
//! SHA-256 digest, set by a compare-and-set ([`Store::bind_flow`]), so of any number of
//! browsers (on any number of instances) that open the hop of one flow, exactly one is bound;
//! every later hop for that flow, a second browser with a leaked state, gets the static 400
//! page. The cookie proves nothing but "this browser passed the hop first"; it unlocks nothing
//! by itself (the callback still needs the state and the provider's code). It is `HttpOnly`,
//! `SameSite=Lax` (sent on the provider's top-level redirect back to us), `Secure` on https,
//! scoped to the provider's callback path, and lives as long as the state. One cookie per
//! flow, so two flows in two tabs do not overwrite each other.
//!
//! [`Store::bind_flow`]: crate::store::Store::bind_flow

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::HeaderValue;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::connect::{Connect, FIELD_PKCE_VERIFIER};
use crate::core::pkce::s256_challenge;
use crate::provider::AuthorizeRequest;
use crate::store::PendingFlow;
use crate::{FlowId, ProviderId};

/// Cookie names start with this, then the flow id (27 characters of base64url).
const COOKIE_PREFIX: &str = "dravo_bind_";
/// A state is under 100 characters; anything much longer is refused unread.
const MAX_STATE: usize = 512;

/// Where the hop sends a browser it bound, and the cookie it sets.
#[derive(Debug)]
pub(crate) struct HopRedirect {
    /// The provider's authorize URL for the flow.
    pub(crate) authorize_url: String,
    /// The `Set-Cookie` value binding this browser to the flow.
    pub(crate) cookie: HeaderValue,
}

fn cookie_name(flow_id: &FlowId) -> String {
    format!("{COOKIE_PREFIX}{flow_id}")
}

/// The value of `name` in a `Cookie` header (`a=1; b=2`). Hand-written rather than a cookie
/// crate: we read one name whose value is base64url (no quoting or escaping to handle).
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

impl Connect {
    /// The hop URL `start` answers when browser binding is on.
    pub(crate) fn hop_url(&self, provider: &ProviderId, state: &str) -> String {
        // The state is base64url: nothing in it needs escaping in a query. `concat` sizes the
        // string once.
        [
            self.inner.shared.public_base_url.as_str(),
            &self.inner.shared.prefix,
            "/oauth/",
            provider.as_str(),
            "/go?state=",
            state,
        ]
        .concat()
    }

    /// True when the flow was bound at the hop and the `Cookie` header carries its binding
    /// cookie with the value whose digest the flow keeps (compared in constant time).
    pub(crate) fn binding_matches(&self, flow: &PendingFlow, cookie_header: Option<&str>) -> bool {
        let Some(expected) = &flow.browser_binding else {
            return false;
        };
        let name = cookie_name(&flow.id);
        let Some(got) = cookie_header.and_then(|h| cookie_value(h, &name)) else {
            return false;
        };
        let Ok(got) = URL_SAFE_NO_PAD.decode(got) else { return false };
        bool::from(Sha256::digest(got).as_slice().ct_eq(expected))
    }

    /// The `Set-Cookie` that deletes the flow's binding cookie, for the callback's answer:
    /// the flow is consumed, the cookie is of no further use. `None` when binding is off or
    /// the state does not verify.
    pub(crate) fn clear_binding_cookie(&self, provider: &ProviderId, state: Option<&str>) -> Option<HeaderValue> {
        if !self.inner.browser_binding {
            return None;
        }
        let verified = self.inner.signer.verify(provider, state?).ok()?;
        let redirect_uri = self.redirect_uri(provider);
        let url = Url::parse(&redirect_uri).ok()?;
        let secure = if url.scheme() == "https" { "; Secure" } else { "" };
        let cookie = format!(
            "{}=; Max-Age=0; Path={}; HttpOnly; SameSite=Lax{secure}",
            cookie_name(&verified.flow_id),
            url.path().replace(';', "%3B"),
        );
        HeaderValue::from_str(&cookie).ok()
    }

    /// Whether browser binding is on (see [`ConnectBuilder::browser_binding`]).
    ///
    /// [`ConnectBuilder::browser_binding`]: crate::ConnectBuilder::browser_binding
    pub(crate) fn browser_binding(&self) -> bool {
        self.inner.browser_binding
    }

    /// The hop (`GET {prefix}/oauth/{provider}/go?state=…`, served by the router): checks
    /// the state (signature and expiry first, before any store read), reads the pending
    /// flow, builds the provider's configured authorize URL from it and binds the flow to a
    /// fresh random cookie value (once: a flow already bound, by this browser or another, is
    /// refused). The provider's authorize URL and the cookie to set, or `None` for anything
    /// wrong (the callback's static 400 page: the hop never redirects anywhere else).
    pub(crate) async fn bind_browser(&self, provider_id: &ProviderId, state: &str) -> Option<HopRedirect> {
        let p = self.inner.shared.providers.get(provider_id).cloned()?;
        if state.len() > MAX_STATE {
            return None;
        }
        let Ok(verified) = self.inner.signer.verify(provider_id, state) else {
            tracing::debug!("hop with an invalid state");
            return None;
        };
        let now = self.now();
        if now > verified.expires_at {
            return None;
        }
        let flow = match self.inner.shared.store.get_flow(&verified.flow_id).await {
            Ok(Some(flow))
                if flow.consumed_at.is_none() && flow.browser_binding.is_none() && flow.provider == *provider_id =>
            {
                flow
            }
            Ok(_) => return None,
            Err(e) => {
                tracing::error!(error = %e, "store failed reading a flow at the hop");
                return None;
            }
        };
        let app = match self.inner.shared.store.get_app(&flow.tenant, &flow.app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(error = %e, "store failed reading the flow's app at the hop");
                return None;
            }
        };
        let flow_key = flow.id.to_string();
        let challenge = match &flow.pkce_verifier {
            Some(sealed) => match self.open_string(&flow_key, FIELD_PKCE_VERIFIER, sealed) {
                Ok(v) => Some(s256_challenge(v.expose_secret())),
                Err(_) => return None,
            },
            None => None,
        };
        // A flow at a server the tenant named: the provider and client bound to it, its
        // address checked again.
        let (p, client_id) = match flow.instance.as_deref() {
            None => (p, app.client_id.clone()),
            Some(origin) => match self.flow_instance_client(&flow, origin).await {
                Ok((p, client_id, _)) => (p, client_id),
                Err(_) => return None,
            },
        };
        let code_flow = p.code_flow()?;
        let Ok(authorize_url) = code_flow.authorize_url(&AuthorizeRequest {
            client_id: &client_id,
            redirect_uri: &flow.redirect_uri,
            scopes: &flow.scopes,
            state,
            code_challenge: challenge.as_deref(),
        }) else {
            return None;
        };
        let authorize_url = String::from(authorize_url);
        let max_age = (verified.expires_at - now).whole_seconds().max(1);
        let (path, secure) = match Url::parse(&flow.redirect_uri) {
            Ok(u) => (u.path().replace(';', "%3B"), u.scheme() == "https"),
            Err(_) => return None,
        };
        let mut value = [0u8; 32];
        rand::rng().fill_bytes(&mut value);
        let cookie = format!(
            "{}={}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax{}",
            cookie_name(&verified.flow_id),
            URL_SAFE_NO_PAD.encode(value),
            if secure { "; Secure" } else { "" },
        );
        let Ok(cookie) = HeaderValue::from_str(&cookie) else { return None };
        // The compare-and-set: of every browser that opens this hop, only the first is bound.
        let digest: [u8; 32] = Sha256::digest(value).into();
        match self.inner.shared.store.bind_flow(&verified.flow_id, &digest, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(flow_id = %flow_key, "hop refused: the flow is bound to another browser already");
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "store failed binding a flow at the hop");
                return None;
            }
        }
        tracing::debug!(flow_id = %flow_key, provider = %provider_id, "browser bound to flow");
        Some(HopRedirect { authorize_url, cookie })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_by_exact_name_among_others() {
        let h = "a=1; dravo_bind_x=abc;dravo_bind_xy=no ; b=2";
        assert_eq!(cookie_value(h, "dravo_bind_x"), Some("abc"));
        assert_eq!(cookie_value(h, "dravo_bind_xy"), Some("no"));
        assert_eq!(cookie_value(h, "dravo_bind_"), None);
        assert_eq!(cookie_value("", "a"), None);
    }
}
