//! Where dynamic update (RFC 2136) leaves the answer path: an UPDATE is
//! recognised by its opcode and handed, off the hot path and off the
//! async workers, to whatever applies updates ([`Updater`], implemented
//! by `crate::update` over the service). DNS itself still touches no
//! store: it only knows this trait.

use std::net::IpAddr;
use std::sync::Arc;

/// Applies a dynamic update and writes its response.
pub trait Updater: Send + Sync {
    /// The complete response to the UPDATE `request` from `client` (the
    /// caller checked its opcode); empty when it deserves none.
    fn update(&self, request: &[u8], client: IpAddr) -> Vec<u8>;
}

/// The opcode of an UPDATE (RFC 2136 §1).
const OPCODE_UPDATE: u8 = 5;

/// Whether `request` is a request (not a response) with opcode UPDATE.
pub fn is_update(request: &[u8]) -> bool {
    request
        .get(2)
        .is_some_and(|flags| flags & 0x80 == 0 && (flags >> 3) & 0x0f == OPCODE_UPDATE)
}

/// The response to `request` when it is an UPDATE and updates are
/// served; `None` sends it down the usual path (which answers NOTIMP).
/// The update runs on a blocking thread: it writes the store.
pub async fn answer(
    updater: Option<&Arc<dyn Updater>>,
    request: &[u8],
    client: IpAddr,
) -> Option<Vec<u8>> {
    let updater = updater?;
    if !is_update(request) {
        return None;
    }
    let updater = updater.clone();
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || updater.update(&request, client))
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_update_requests_are_taken() {
        let mut header = [0u8; 12];
        header[2] = OPCODE_UPDATE << 3;
        assert!(is_update(&header));
        header[2] |= 0x80;
        assert!(!is_update(&header));
        header[2] = 0;
        assert!(!is_update(&header));
        assert!(!is_update(&[0, 1]));
    }
}
