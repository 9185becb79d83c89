//! Client handles: opaque values checked against a registry, so a NULL,
//! freed or foreign handle is an error, never undefined behaviour.

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

struct Registry {
    next: usize,
    clients: HashMap<usize, Slot>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| {
    Mutex::new(Registry {
        next: 0,
        clients: HashMap::new(),
    })
});

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

/// Registers a client and returns its handle. Keys are odd and never reused,
/// so they match no aligned real pointer and a stale handle stays invalid.
pub(super) fn register(client: Client) -> *mut wxrefund_client {
    let mut registry = registry();
    registry.next += 1;
    let key = (registry.next << 4) | 1;
    registry
        .clients
        .insert(key, Arc::new(RwLock::new(Some(client))));
    key as *mut wxrefund_client
}

/// Runs `call` with the client behind `handle`.
pub(super) fn with_client<T>(
    handle: *const wxrefund_client,
    call: impl FnOnce(&Client) -> Result<T>,
) -> Result<T> {
    let slot = registry()
        .clients
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
        .clients
        .remove(&(handle as usize))
        .ok_or_else(invalid_handle)?;
    let mut guard = slot
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.take();
    Ok(())
}
