//! Client handles: opaque values checked against a registry, so a NULL,
//! freed or foreign handle is an error, never undefined behaviour.

use crate::crypto::backend::rand::{SecureRandom, SystemRandom};
use crate::error::{Error, ErrorKind, Result};
use crate::Client;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

/// Opaque client handle. Never dereferenced: its address is a registry key.
pub struct wxrefund_client {
    _private: [u8; 0],
}

/// A registered client. Calls hold the read lock; free takes the write lock,
/// so it waits for calls in flight, then drops (and zeroizes) the client.
type Slot = Arc<RwLock<Option<Client>>>;

/// Live clients by handle value.
type Registry = HashMap<usize, Slot>;

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn invalid_handle() -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        "invalid_handle",
        "the client handle is NULL, freed, or not from wxrefund_client_new",
    )
}

/// Registers a client and returns its handle: a random odd value (so it
/// matches no aligned real pointer), not a live one. A guessed or stale
/// value is caught by the registry; being random, it rarely even could be
/// (one in 2^63 on 64-bit hosts, 2^31 on 32-bit ones).
pub(super) fn register(client: Client) -> Result<*mut wxrefund_client> {
    let rng = SystemRandom::new();
    let mut registry = registry();
    let key = loop {
        let mut bytes = [0u8; std::mem::size_of::<usize>()];
        rng.fill(&mut bytes)
            .map_err(|_| Error::new(ErrorKind::Internal, "rng_failed", "the OS CSPRNG failed"))?;
        let key = usize::from_ne_bytes(bytes) | 1;
        if !registry.contains_key(&key) {
            break key;
        }
    };
    registry.insert(key, Arc::new(RwLock::new(Some(client))));
    Ok(key as *mut wxrefund_client)
}

/// Runs `call` with the client behind `handle`.
pub(super) fn with_client<T>(
    handle: *const wxrefund_client,
    call: impl FnOnce(&Client) -> Result<T>,
) -> Result<T> {
    let slot = registry()
        .get(&(handle as usize))
        .cloned()
        .ok_or_else(invalid_handle)?;
    let guard = slot.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let client = guard.as_ref().ok_or_else(invalid_handle)?;
    call(client)
}

/// Removes the handle, waits for calls in flight, and drops the client.
pub(super) fn unregister(handle: *mut wxrefund_client) -> Result<()> {
    let slot = registry()
        .remove(&(handle as usize))
        .ok_or_else(invalid_handle)?;
    let mut guard = slot
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.take();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::from_json(
            &serde_json::json!({
                "family": "wecom", "mchid": "1900000109", "appid": "wx1234567890abcdef",
                "access_token": "t",
            })
            .to_string(),
        )
        .unwrap()
    }

    /// Finding 10: handles were 0x11, 0x21, ...: a guess hit a live client.
    #[test]
    fn handles_are_unpredictable_and_checked() {
        let handles: Vec<usize> = (0..8)
            .map(|_| register(client()).unwrap() as usize)
            .collect();
        assert!(handles.iter().all(|h| h % 2 == 1));
        let gaps: std::collections::HashSet<usize> = handles
            .windows(2)
            .map(|w| w[1].wrapping_sub(w[0]))
            .collect();
        assert!(gaps.len() > 1, "handles follow a sequence: {handles:x?}");
        for guess in (1..64usize).map(|n| (n << 4) | 1) {
            assert!(with_client(guess as *const wxrefund_client, |_| Ok(())).is_err());
        }
        for handle in handles {
            unregister(handle as *mut wxrefund_client).unwrap();
            assert!(unregister(handle as *mut wxrefund_client).is_err());
        }
    }
}
