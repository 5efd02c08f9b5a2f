//! How long a host waits for each piece of a request body. Connect answers a request it
//! refuses on its head (no key, a wrong route or method, a declared length over the limit)
//! without reading the body, but a request it accepts has its body read; a client that stalls
//! mid-body would hold the connection open for as long as the server lets it. These examples
//! cut it off after `BODY_READ_TIMEOUT` without a byte (Connect then answers
//! `400 invalid_request`).
#![allow(dead_code)]

use std::time::Duration;

/// The longest wait for the next piece of a request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The body-read timeout on actix-web, as a middleware for `App::wrap(from_fn(..))`:
/// actix-web's `client_request_timeout` bounds reading the head only, so the payload is
/// passed on through a per-chunk timeout.
#[cfg(feature = "actix")]
pub async fn actix_body_read_timeout(
    mut request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage as _;
    use actix_web::dev::Payload;
    use actix_web::error::PayloadError;
    use tokio_stream::StreamExt as _;

    match request.take_payload() {
        // No body (every `GET`): nothing to wait for.
        Payload::None => {}
        payload => {
            let timed = payload
                .timeout(BODY_READ_TIMEOUT)
                .map(|chunk| chunk.unwrap_or_else(|_| Err(PayloadError::Io(std::io::ErrorKind::TimedOut.into()))));
            request.set_payload(Payload::Stream { payload: Box::pin(timed) });
        }
    }
    next.call(request).await
}
