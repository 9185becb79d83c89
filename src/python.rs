//! The Python extension module `wxrefund._wxrefund` (feature `python`), built by
//! maturin from `bindings/python`; the package `wxrefund` re-exports it.
//!
//! It calls the Rust API (not the C ABI). Dicts go in and out as JSON values,
//! converted here; errors become the exception classes of
//! `wxrefund/_errors.py`, built from [`Error::to_json`]. Every call that can
//! block (the network, certificate downloads, waiting in `close`) runs with the
//! GIL released, and every method body runs inside a panic boundary, so a panic
//! becomes `wxrefund.PanicError` instead of aborting the interpreter.
//!
//! The library's log records go to `logging.getLogger("wxrefund")` (see
//! [`PyLogSink`]), installed once when the module is imported.

use crate::error::{Error, ErrorKind, Result};
use crate::logging::{Forwarded, Sink};
use crate::signer::signer_failed;
use crate::{
    AccessTokenProvider, Client, Config, Family, Headers, Notification, Refund, Secret, Signer,
};
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyRuntimeError, PyRuntimeWarning};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use zeroize::{Zeroize, Zeroizing};

/// Deepest nesting accepted when converting a Python value to JSON (serde_json's own limit),
/// so that a list containing itself is an error, not a stack overflow.
const MAX_DEPTH: usize = 128;

thread_local! {
    /// The exception the access-token provider or the signer raised during the current
    /// call on this thread; attached as `__cause__` of the wxrefund error that call raises.
    static CALLBACK_EXCEPTION: RefCell<Option<PyErr>> = const { RefCell::new(None) };
    /// Clients (by address) with a call in flight on this thread, innermost last: lets
    /// `close` called from inside the token provider skip waiting for its own call.
    static CALLS_ON_THIS_THREAD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// True while this thread runs an access-token provider (which must not call back
    /// into a client that needs a token: that would wait for itself).
    static IN_PROVIDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Signers (by address) running on this thread: a signer that calls its own client
    /// would ask itself for a signature again, without end.
    static SIGNERS_ON_THIS_THREAD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Turns a library error into the matching `wxrefund` exception.
fn raise(py: Python<'_>, error: &Error) -> PyErr {
    let value = error.to_json();
    let built = (|| -> PyResult<PyErr> {
        let error_dict = json_to_py(py, &value)?;
        let exception = py
            .import("wxrefund._errors")?
            .getattr("_from_error")?
            .call1((error_dict,))?;
        Ok(PyErr::from_value(exception))
    })();
    let exception = built.unwrap_or_else(|import_failure| {
        PyRuntimeError::new_err(format!(
            "{error} (the wxrefund exception classes could not be loaded: {import_failure})"
        ))
    });
    if let Some(cause) = CALLBACK_EXCEPTION.with(|slot| slot.borrow_mut().take()) {
        // KeyboardInterrupt, SystemExit and the like go through unchanged.
        if !cause.is_instance_of::<PyException>(py) {
            return cause;
        }
        exception.set_cause(py, Some(cause));
    }
    exception
}

/// Runs `body` (which may release the GIL itself) with a panic boundary: a panic becomes
/// `PanicError`, an error its exception class.
fn boundary<T>(py: Python<'_>, body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    // A cause left over from an earlier call on this thread must not leak into this one.
    CALLBACK_EXCEPTION.with(|slot| slot.borrow_mut().take());
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(raise(py, &Error::from_panic(payload))),
    }
}

/// Runs `call` with the GIL released, inside its own panic boundary (the closure may run
/// library code that panics while the GIL is not held).
fn detached<T: Send>(py: Python<'_>, call: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    let result = py.detach(|| {
        let result =
            catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|p| Err(Error::from_panic(p)));
        take_gil_back_or_park();
        result
    });
    gil_taken_back();
    result.map_err(|error| raise(py, &error))
}

/// The thread that ran `_at_exit`: from then on the interpreter finalizes.
static EXITING: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();

/// Threads between leaving the library and holding the GIL again.
static RETURNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Called without the GIL, just before taking it back. Once the interpreter exits, a
/// (daemon) thread must not take the GIL again: CPython ends a thread that waits for it
/// during finalization with `pthread_exit`, inside Rust frames, which crashes the process.
/// Such a thread stays parked until the process ends. Otherwise it counts as returning
/// (until [`gil_taken_back`]), and `_at_exit` lets every returning thread through before
/// finalization begins. (The counter goes up before the check, and `_at_exit` sets
/// `EXITING` before it reads the counter: one of the two always sees the other.)
fn take_gil_back_or_park() {
    use std::sync::atomic::Ordering::SeqCst;
    RETURNING.fetch_add(1, SeqCst);
    if EXITING
        .get()
        .is_some_and(|exiting| *exiting != std::thread::current().id())
    {
        RETURNING.fetch_sub(1, SeqCst);
        loop {
            std::thread::park();
        }
    }
}

/// Called with the GIL held again, after [`take_gil_back_or_park`].
fn gil_taken_back() {
    RETURNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

fn invalid_argument(field: Option<&str>, message: String) -> Error {
    let mut error = Error::new(ErrorKind::InvalidArgument, "invalid_argument", message);
    error.field = field.map(str::to_string);
    error
}

/// The Python type name of `value`, for messages.
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Converts a Python value made of dicts (or other mappings) with `str` keys, lists,
/// tuples, `str`, `int`, finite `float`, `bool` and `None` to JSON. `path` names the
/// value in error messages.
fn py_to_json(value: &Bound<'_, PyAny>, path: &str, depth: usize) -> PyResult<Value> {
    let py = value.py();
    let fail = |message: String| Err(raise(py, &invalid_argument(None, message)));
    if depth > MAX_DEPTH {
        return fail(format!("{path}: nested more than {MAX_DEPTH} levels deep"));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if value.cast::<PyInt>().is_ok() {
        if let Ok(number) = value.extract::<i64>() {
            return Ok(Value::from(number));
        }
        if let Ok(number) = value.extract::<u64>() {
            return Ok(Value::from(number));
        }
        return fail(format!("{path}: the integer is out of the 64-bit range"));
    }
    if value.cast::<PyFloat>().is_ok() {
        let number: f64 = value.extract()?;
        return match Number::from_f64(number) {
            Some(number) => Ok(Value::Number(number)),
            None => fail(format!("{path}: {number} is not a JSON number")),
        };
    }
    if value.cast::<PyString>().is_ok() {
        return Ok(Value::String(value.extract()?));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut object = Map::new();
        for (key, item) in dict.iter() {
            let Ok(key) = key.extract::<String>() else {
                return fail(format!("{path}: keys must be str, not {}", type_name(&key)));
            };
            let item = py_to_json(&item, &format!("{path}.{key}"), depth + 1)?;
            object.insert(key, item);
        }
        return Ok(Value::Object(object));
    }
    if value.cast::<PyList>().is_ok() || value.cast::<PyTuple>().is_ok() {
        let mut array = Vec::new();
        for (index, item) in value.try_iter()?.enumerate() {
            array.push(py_to_json(&item?, &format!("{path}[{index}]"), depth + 1)?);
        }
        return Ok(Value::Array(array));
    }
    if is_mapping(value) {
        let as_dict = PyDict::new(py);
        for pair in value.call_method0("items")?.try_iter()? {
            let (key, item): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
            as_dict.set_item(key, item)?;
        }
        return py_to_json(as_dict.as_any(), path, depth);
    }
    fail(format!(
        "{path}: a {} is not JSON (use dict, list, str, int, float, bool or None)",
        type_name(value)
    ))
}

/// `isinstance(value, collections.abc.Mapping)`.
fn is_mapping(value: &Bound<'_, PyAny>) -> bool {
    let py = value.py();
    py.import("collections.abc")
        .and_then(|abc| abc.getattr("Mapping"))
        .and_then(|mapping| value.is_instance(&mapping))
        .unwrap_or(false)
}

/// Converts a Python mapping to a JSON object, naming it `what` in errors.
fn py_to_object(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    if value.cast::<PyDict>().is_err() && !is_mapping(value) {
        let message = format!("{what} must be a dict, not {}", type_name(value));
        return Err(raise(value.py(), &invalid_argument(None, message)));
    }
    match py_to_json(value, what, 0)? {
        Value::Object(object) => Ok(object),
        _ => unreachable!("a mapping converts to an object"),
    }
}

/// Converts JSON to Python: dict, list, str, int, float, bool, None.
fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                n.into_pyobject(py)?.into_any()
            } else if let Some(n) = number.as_u64() {
                n.into_pyobject(py)?.into_any()
            } else {
                number
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(object) => {
            let dict = PyDict::new(py);
            for (key, item) in object {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Overwrites every string in `value` (configuration secrets, bank details) before it is
/// dropped.
fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(object) => {
            let keys: Vec<String> = object.keys().cloned().collect();
            for key in keys {
                if let Some(item) = object.get_mut(&key) {
                    wipe(item);
                }
            }
        }
        _ => {}
    }
}

/// Reads notification headers: a mapping (anything with `items()`) or an iterable of
/// `(name, value)` pairs, names and values `str` (or UTF-8 `bytes`).
fn py_to_headers(headers: &Bound<'_, PyAny>) -> PyResult<Headers> {
    let py = headers.py();
    // Argument errors carry the reply a malformed notification gets, like the Rust API's.
    let fail = |message: String| {
        let error = invalid_argument(Some("headers"), message);
        raise(py, &crate::notify::with_reply(error))
    };
    let text = |item: &Bound<'_, PyAny>, what: &str| -> PyResult<String> {
        if let Ok(text) = item.extract::<String>() {
            return Ok(text);
        }
        if let Ok(bytes) = item.cast::<PyBytes>() {
            return String::from_utf8(bytes.as_bytes().to_vec())
                .map_err(|_| fail(format!("headers: a {what} is not valid UTF-8")));
        }
        Err(fail(format!(
            "headers: a {what} must be str, not {}",
            type_name(item)
        )))
    };
    let pairs = if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let iterator = pairs.try_iter().map_err(|_| {
        fail(format!(
            "headers must be a mapping of header names to values, not {}",
            type_name(headers)
        ))
    })?;
    let mut collected = Vec::new();
    for pair in iterator {
        let pair = pair?;
        let Ok((name, value)) = pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() else {
            return Err(fail(format!(
                "headers: expected (name, value) pairs, got {}",
                type_name(&pair)
            )));
        };
        let name = text(&name, "header name")?;
        let value = text(&value, &format!("value of {name}"))?;
        collected.push((name, value));
    }
    Ok(Headers::new(collected))
}

/// An access-token provider implemented by a Python callable
/// `provider(rejected: str | None) -> str`.
struct PyTokenProvider {
    callable: Py<PyAny>,
    /// One call at a time, like the C callback: the host's cache needs no locking.
    one_at_a_time: Mutex<()>,
}

fn provider_error(message: String) -> Error {
    Error::new(ErrorKind::Api, "token_provider_failed", message).with_retry(true, false)
}

impl PyTokenProvider {
    fn call(&self, rejected: Option<&str>) -> Result<Secret> {
        take_gil_back_or_park();
        Python::attach(|py| {
            gil_taken_back();
            match self.callable.bind(py).call1((rejected,)) {
                Ok(token) => match token.extract::<String>() {
                    Ok(token) if token.is_empty() => Err(provider_error(
                        "the access token provider returned an empty token".into(),
                    )),
                    Ok(token) => Ok(Secret::new(token)),
                    Err(_) => Err(provider_error(format!(
                        "the access token provider returned a {}, not a str",
                        type_name(&token)
                    ))),
                },
                Err(exception) => {
                    // The message may quote a token: keep it out of ours, chain the
                    // exception itself instead.
                    let name = exception_name(py, &exception);
                    CALLBACK_EXCEPTION.with(|slot| *slot.borrow_mut() = Some(exception));
                    Err(provider_error(format!(
                        "the access token provider raised {name} (see __cause__)"
                    )))
                }
            }
        })
    }
}

impl AccessTokenProvider for PyTokenProvider {
    fn access_token(&self, rejected: Option<&str>) -> Result<Secret> {
        if IN_PROVIDER.with(|flag| flag.get()) {
            return Err(provider_error(
                "the access token provider called a client that needed a token itself".into(),
            ));
        }
        let _one = self
            .one_at_a_time
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        IN_PROVIDER.with(|flag| flag.set(true));
        let token = catch_unwind(AssertUnwindSafe(|| self.call(rejected)))
            .unwrap_or_else(|p| Err(Error::from_panic(p)));
        IN_PROVIDER.with(|flag| flag.set(false));
        token
    }
}

/// The name of an exception's class, for messages that must not quote the exception.
fn exception_name(py: Python<'_>, exception: &PyErr) -> String {
    exception
        .get_type(py)
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "an exception".into())
}

/// A merchant signer implemented by a Python callable `signer(message: bytes) -> bytes`
/// (the RSASSA-PKCS1-v1_5 SHA-256 signature). Called with the GIL taken, on the thread that
/// makes the call, possibly from several threads at once.
struct PySigner {
    callable: Py<PyAny>,
}

impl PySigner {
    fn id(&self) -> usize {
        self as *const PySigner as usize
    }

    fn call(&self, message: &[u8]) -> Result<Vec<u8>> {
        take_gil_back_or_park();
        Python::attach(|py| {
            gil_taken_back();
            let message = PyBytes::new(py, message);
            match self.callable.bind(py).call1((message,)) {
                Ok(signature) => {
                    if let Ok(bytes) = signature.cast::<PyBytes>() {
                        Ok(bytes.as_bytes().to_vec())
                    } else if let Ok(bytes) = signature.cast::<PyByteArray>() {
                        Ok(bytes.to_vec())
                    } else {
                        Err(signer_failed(format!(
                            "the signer returned a {}, not bytes",
                            type_name(&signature)
                        )))
                    }
                }
                Err(exception) => {
                    // Its message is the host's (it may name a key or an HSM slot): chain
                    // the exception itself instead of quoting it.
                    let name = exception_name(py, &exception);
                    CALLBACK_EXCEPTION.with(|slot| *slot.borrow_mut() = Some(exception));
                    Err(signer_failed(format!(
                        "the signer raised {name} (see __cause__)"
                    )))
                }
            }
        })
    }
}

impl Signer for PySigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let id = self.id();
        if SIGNERS_ON_THIS_THREAD.with(|running| running.borrow().contains(&id)) {
            return Err(signer_failed(
                "the signer called its own client, which needed a signature from it again",
            ));
        }
        SIGNERS_ON_THIS_THREAD.with(|running| running.borrow_mut().push(id));
        let signature = catch_unwind(AssertUnwindSafe(|| self.call(message)))
            .unwrap_or_else(|p| Err(Error::from_panic(p)));
        SIGNERS_ON_THIS_THREAD.with(|running| running.borrow_mut().pop());
        signature
    }
}

/// The open client and the number of calls using it.
struct State {
    client: Option<Arc<Client>>,
    in_flight: usize,
}

/// A WeChat Pay refund client for one family and account.
///
/// The configuration is a dict and/or keyword arguments with the fields of the JSON
/// configuration (``family``, ``mchid``, ``private_key_pem``, ``apiv3_key``, ...; keyword
/// arguments override the dict). ``access_token_provider`` (WeCom only) is a callable
/// ``provider(rejected: str | None) -> str`` returning an access token; it is called again
/// with the rejected token when WeCom refuses one, one call at a time. ``signer``
/// (mainland and Global) is a callable ``signer(message: bytes) -> bytes`` returning the
/// RSASSA-PKCS1-v1_5 SHA-256 signature of ``message`` with the merchant key, for a key the
/// library never sees (an HSM, a signing service); the configuration then has
/// ``merchant_serial_no`` and no private key. It is called with the GIL held, from every
/// thread that uses the client, possibly concurrently; if it raises or returns something
/// other than bytes, the call fails with ``SignerFailedError`` (its ``__cause__`` is the
/// exception) and nothing is sent. Building a client does not touch the network.
///
/// One client may be shared by many threads; the GIL is released during network calls.
/// ``close()`` (or leaving a ``with`` block) waits for calls in flight, and every call after
/// it raises ``ClientClosedError``.
#[pyclass(module = "wxrefund", name = "Client", frozen)]
struct PyClient {
    state: Mutex<State>,
    idle: Condvar,
    family: &'static str,
}

/// A call in flight: holds the client and counts itself until dropped.
struct Call<'a> {
    owner: &'a PyClient,
    client: Arc<Client>,
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        CALLS_ON_THIS_THREAD.with(|calls| calls.borrow_mut().pop());
        let mut state = self.owner.lock();
        state.in_flight -= 1;
        // Every end of a call, not only the last: a `close` from inside a call waits
        // for all calls but its own.
        self.owner.idle.notify_all();
    }
}

impl PyClient {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn id(&self) -> usize {
        self as *const PyClient as usize
    }

    /// Starts a call, or fails with `INVALID_HANDLE` when the client is closed.
    fn start(&self) -> Result<Call<'_>> {
        let mut state = self.lock();
        let client = state.client.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidHandle,
                "client_closed",
                "the client is closed",
            )
        })?;
        state.in_flight += 1;
        CALLS_ON_THIS_THREAD.with(|calls| calls.borrow_mut().push(self.id()));
        Ok(Call {
            owner: self,
            client,
        })
    }

    /// Runs one operation with the GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        operation: impl FnOnce(&Client) -> Result<T> + Send,
    ) -> PyResult<T> {
        detached(py, || {
            let call = self.start()?;
            operation(&call.client)
        })
    }

    /// Closes the client: new calls fail; waits for the calls in flight (except those of
    /// this thread, when called from inside one of them), then drops the client.
    fn shut(&self) {
        let mine = CALLS_ON_THIS_THREAD
            .with(|calls| calls.borrow().iter().filter(|&&id| id == self.id()).count());
        let mut state = self.lock();
        let Some(client) = state.client.take() else {
            return;
        };
        while state.in_flight > mine {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        drop(state);
        drop(client);
    }
}

/// The host's callables given to `Client(...)`.
struct Callbacks<'a, 'py> {
    access_token_provider: Option<&'a Bound<'py, PyAny>>,
    signer: Option<&'a Bound<'py, PyAny>>,
}

/// `argument` when it is given (not `None`), after checking that it is callable.
fn callable_argument<'a, 'py>(
    argument: Option<&'a Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Option<&'a Bound<'py, PyAny>>> {
    match argument {
        Some(callable) if !callable.is_none() => {
            if !callable.is_callable() {
                let message = format!("{name} must be callable, not {}", type_name(callable));
                return Err(raise(callable.py(), &invalid_argument(Some(name), message)));
            }
            Ok(Some(callable))
        }
        _ => Ok(None),
    }
}

fn build_client(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
    callbacks: Callbacks<'_, '_>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyClient> {
    let mut fields = match config {
        Some(config) if !config.is_none() => py_to_object(config, "config")?,
        _ => Map::new(),
    };
    if let Some(kwargs) = kwargs {
        for (name, value) in py_to_object(kwargs.as_any(), "config")? {
            if let Some(mut replaced) = fields.insert(name, value) {
                wipe(&mut replaced);
            }
        }
    }
    let mut value = Value::Object(fields);
    let json = Zeroizing::new(value.to_string());
    wipe(&mut value);
    let provider = callable_argument(callbacks.access_token_provider, "access_token_provider")?
        .map(|provider| {
            Arc::new(PyTokenProvider {
                callable: provider.clone().unbind(),
                one_at_a_time: Mutex::new(()),
            }) as Arc<dyn AccessTokenProvider>
        });
    let signer = callable_argument(callbacks.signer, "signer")?.map(|signer| {
        Arc::new(PySigner {
            callable: signer.clone().unbind(),
        }) as Arc<dyn Signer>
    });
    let client = detached(py, move || {
        let config = Config::from_json(&json)?;
        match (provider, signer) {
            (Some(provider), None) => Client::with_access_token_provider(config, provider),
            (None, Some(signer)) => Client::with_signer(config, signer),
            (None, None) => Client::new(config),
            (Some(_), Some(_)) => Err(Error::config(
                "signer",
                "give a signer (mainland, Global) or an access_token_provider (WeCom), \
                 not both",
            )),
        }
    })?;
    let family = match client.family() {
        Family::Domestic => "domestic",
        Family::Global => "global",
        Family::WeCom => "wecom",
    };
    Ok(PyClient {
        state: Mutex::new(State {
            client: Some(Arc::new(client)),
            in_flight: 0,
        }),
        idle: Condvar::new(),
        family,
    })
}

/// Reads a timeout in seconds: an `int` or `float` (not `bool`), finite and not negative.
fn timeout_seconds(timeout: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let py = timeout.py();
    let fail = |message: String| Err(raise(py, &invalid_argument(Some("timeout"), message)));
    if timeout.cast::<PyBool>().is_ok() {
        return fail("timeout must be a number of seconds, not a bool".into());
    }
    let Ok(seconds) = timeout.extract::<f64>() else {
        return fail(format!(
            "timeout must be a number of seconds (int or float), not {}",
            type_name(timeout)
        ));
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return fail(format!(
            "timeout must be a finite number of seconds, 0 or more, not {seconds}"
        ));
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) => Ok(duration),
        Err(_) => fail(format!("timeout {seconds} s is too long")),
    }
}

fn refund_to_py(py: Python<'_>, refund: &Refund) -> PyResult<Py<PyAny>> {
    Ok(json_to_py(py, &refund.to_json())?.unbind())
}

fn notification_to_py(py: Python<'_>, notification: &Notification) -> PyResult<Py<PyAny>> {
    Ok(json_to_py(py, &notification.to_json())?.unbind())
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (config = None, /, *, access_token_provider = None, signer = None, **kwargs))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        access_token_provider: Option<&Bound<'_, PyAny>>,
        signer: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClient> {
        boundary(py, || {
            let callbacks = Callbacks {
                access_token_provider,
                signer,
            };
            build_client(py, config, callbacks, kwargs)
        })
    }

    /// The family this client speaks for: ``"domestic"``, ``"global"`` or ``"wecom"``.
    #[getter]
    fn family(&self) -> &'static str {
        self.family
    }

    /// True once ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().client.is_none()
    }

    /// Applies for a refund.
    ///
    /// ``request`` is a dict with WeChat's field names for this client's family (e.g.
    /// ``out_trade_no``, ``out_refund_no``, ``amount: {refund, total, currency}``); unknown
    /// fields are rejected. It is validated before anything is sent. Returns the platform's
    /// answer plus ``"wxrefund": {"status", "final", "action_required", "refund_id",
    /// "attempts", "elapsed_ms"}`` (requests sent, retries included, and the call's
    /// duration).
    ///
    /// On ``WxRefundError`` with ``outcome_unknown`` the platform may have the refund:
    /// query it before deciding. Releases the GIL while it waits for the network.
    fn create_refund(&self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        boundary(py, || {
            let json = Value::Object(py_to_object(request, "request")?).to_string();
            let refund = self.run(py, move |client| client.create_refund_json(&json))?;
            refund_to_py(py, &refund)
        })
    }

    /// Sends the money of an ``ABNORMAL`` mainland refund another way (the payer's card was
    /// closed or frozen): ``request`` is ``{"refund_id", "out_refund_no", "type",
    /// "bank_type", "bank_account", "real_name"}`` (plus ``sub_mchid`` in partner mode);
    /// ``type`` is ``"USER_BANK_CARD"`` (to another card of the payer: ``bank_type`` such as
    /// ``"ICBC_DEBIT"``, the card number and the holder's name, in plain text) or
    /// ``"MERCHANT_BANK_CARD"`` (to the merchant's card, without the three). It is validated
    /// before anything is sent; the card number and the name are encrypted with the WeChat
    /// Pay public key or the newest platform certificate, and never appear in an error or a
    /// log record. Returns the refund like ``query_refund``, ``PROCESSING`` again: wait for
    /// its final status with ``wait_for_final``. Other families raise
    /// ``InvalidRequestError``. Releases the GIL while it waits for the network.
    fn apply_abnormal_refund(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        boundary(py, || {
            let mut value = Value::Object(py_to_object(request, "request")?);
            // The bank details are personal data: no copy of them outlives the call.
            let json = Zeroizing::new(value.to_string());
            wipe(&mut value);
            let refund = self.run(py, move |client| client.apply_abnormal_refund_json(&json))?;
            refund_to_py(py, &refund)
        })
    }

    /// Queries one refund: ``{"out_refund_no": ...}`` or (Global) ``{"refund_id": ...}``,
    /// plus ``sub_mchid`` in partner/institution mode when it differs from the configured
    /// one. Returns the refund like ``create_refund``; ``refund["wxrefund"]["final"]`` says
    /// whether it can still change. Releases the GIL while it waits for the network.
    fn query_refund(&self, py: Python<'_>, query: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        boundary(py, || {
            let json = Value::Object(py_to_object(query, "query")?).to_string();
            let refund = self.run(py, move |client| client.query_refund_json(&json))?;
            refund_to_py(py, &refund)
        })
    }

    /// Queries until the refund is final (``SUCCESS``, ``CLOSED``) or needs action
    /// (``ABNORMAL``), and returns it like ``query_refund``.
    ///
    /// ``query`` is as for ``query_refund``; ``timeout`` is the longest wait in seconds
    /// (``int`` or ``float``, finite, not negative; 0 queries once). Polls at once, then
    /// after 1, 2, 4, 8, 16 and then every 30 seconds, never past the timeout; network
    /// failures and busy answers are polled through, any other error is raised at once.
    /// When time runs out, raises ``WaitTimeoutError`` whose ``refund`` is the last refund
    /// seen (or ``None``). ``refund["wxrefund"]["attempts"]`` counts every request sent.
    /// Releases the GIL while it waits; ``close()`` waits for it to end.
    fn wait_for_final(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        boundary(py, || {
            let json = Value::Object(py_to_object(query, "query")?).to_string();
            let timeout = timeout_seconds(timeout)?;
            let refund = self.run(py, move |client| {
                let query = crate::refund::parse_json("refund query", &json)?;
                client.wait_for_final(&query, timeout)
            })?;
            refund_to_py(py, &refund)
        })
    }

    /// Verifies and decrypts a refund notification.
    ///
    /// ``headers`` are the request headers as received (a mapping or ``(name, value)``
    /// pairs; any case, CGI ``HTTP_`` names accepted) and ``body`` the exact bytes
    /// received. Returns ``{"id", "event_type", "create_time", "resource_type", "summary",
    /// "refund", "reply"}``; answer the platform with ``reply`` (``http_status``, ``body``).
    /// On failure the exception's ``reply`` says what to answer instead. May download
    /// platform certificates; releases the GIL meanwhile.
    fn parse_notification(
        &self,
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        boundary(py, || {
            let headers = py_to_headers(headers)?;
            let body: Vec<u8> = if let Ok(bytes) = body.cast::<PyBytes>() {
                bytes.as_bytes().to_vec()
            } else if let Ok(bytes) = body.cast::<PyByteArray>() {
                bytes.to_vec()
            } else {
                let message = format!("body must be the bytes received, not {}", type_name(body));
                let error = crate::notify::with_reply(invalid_argument(Some("body"), message));
                return Err(raise(py, &error));
            };
            let notification =
                self.run(py, move |client| client.parse_notification(&headers, &body))?;
            notification_to_py(py, &notification)
        })
    }

    /// Closes the client: calls after it raise ``ClientClosedError``. Waits for calls in
    /// flight (with the GIL released), then frees the client and zeroes its secrets.
    /// Calling it again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        boundary(py, || {
            detached(py, || {
                self.shut();
                Ok(())
            })
        })
    }

    /// Returns the client itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the client; exceptions propagate.
    #[pyo3(signature = (*exc_info))]
    fn __exit__(&self, py: Python<'_>, exc_info: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let _ = exc_info;
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let closed = if self.closed() { " closed" } else { "" };
        format!("<wxrefund.Client family={:?}{closed}>", self.family)
    }
}

/// Forwards the library's records to `logging.getLogger("wxrefund")` as the `LogRecord`s
/// of a `logger.log` call: levels ERROR, WARNING, INFO, DEBUG (TRACE becomes DEBUG), the
/// caller's file and line, and every field as an attribute, as `extra` would set it. A field
/// whose name the record already uses (`message`, `module`, `asctime`, ...) is set as
/// `wxrefund_<name>` instead; `record.wxrefund_fields` is the dict of all fields under their
/// own names. Nothing is built unless `logger.isEnabledFor(level)`; an exception raised by a
/// handler or filter goes to `sys.unraisablehook`, never into the refund call.
struct PyLogSink {
    logger: Py<PyAny>,
}

impl PyLogSink {
    /// Runs on whatever thread logged, with the GIL released: attaches, forwards, and
    /// drops the record when the interpreter is shutting down.
    fn handle(&self, record: &Forwarded<'_>) {
        // A panic here must not unwind into the refund call that logged.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            Python::try_attach(|py| {
                if let Err(error) = self.forward(py, record) {
                    let logger = self.logger.bind(py);
                    if error.is_instance_of::<PyKeyboardInterrupt>(py) {
                        // SAFETY: PyErr_SetInterrupt only flags a pending SIGINT; it needs
                        // no argument and may be called from any thread. The interrupt is
                        // raised as soon as the main thread runs Python code again.
                        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
                    } else {
                        error.write_unraisable(py, Some(logger));
                    }
                }
            })
        }));
    }

    fn forward(&self, py: Python<'_>, record: &Forwarded<'_>) -> PyResult<()> {
        let level: u8 = match record.level {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            log::Level::Info => 20,
            log::Level::Debug | log::Level::Trace => 10,
        };
        let logger = self.logger.bind(py);
        if !logger
            .call_method1(pyo3::intern!(py, "isEnabledFor"), (level,))?
            .is_truthy()?
        {
            return Ok(());
        }
        // What Logger._log does, with the fields set the way `extra` sets them but
        // renamed instead of refused when they clash.
        let (file, line, function) = caller(py)?;
        let name = logger.getattr(pyo3::intern!(py, "name"))?;
        let built = logger.call_method1(
            pyo3::intern!(py, "makeRecord"),
            (
                name,
                level,
                file,
                line,
                record.message,
                PyTuple::empty(py),
                py.None(),
                function,
            ),
        )?;
        let fields = PyDict::new(py);
        for (key, value) in record.fields {
            let value = json_to_py(py, value)?;
            fields.set_item(key, &value)?;
            let taken = matches!(key.as_str(), "message" | "asctime") || built.hasattr(key)?;
            if taken {
                built.setattr(format!("wxrefund_{key}"), value)?;
            } else {
                built.setattr(key, value)?;
            }
        }
        built.setattr(pyo3::intern!(py, "wxrefund_fields"), fields)?;
        logger.call_method1(pyo3::intern!(py, "handle"), (built,))?;
        Ok(())
    }
}

/// The file, line and function of the Python code that called into wxrefund on this thread
/// (what `findCaller` gives a `logger.log` call there), or logging's "unknown" values on a
/// thread that runs no Python code.
fn caller(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>)> {
    // Called from Rust, `sys._getframe(0)` is the innermost Python frame: the caller.
    match py
        .import("sys")?
        .call_method1(pyo3::intern!(py, "_getframe"), (0,))
    {
        Ok(frame) => {
            let code = frame.getattr(pyo3::intern!(py, "f_code"))?;
            Ok((
                code.getattr(pyo3::intern!(py, "co_filename"))?,
                frame.getattr(pyo3::intern!(py, "f_lineno"))?,
                code.getattr(pyo3::intern!(py, "co_name"))?,
            ))
        }
        Err(_) => Ok((
            PyString::new(py, "(unknown file)").into_any(),
            0u8.into_pyobject(py)?.into_any(),
            PyString::new(py, "(unknown function)").into_any(),
        )),
    }
}

/// Runs at interpreter exit (`atexit`), before finalization, when only daemon threads are
/// left: stops forwarding records to Python once the sinks running now have returned, and
/// parks every other thread that comes back from the library (see
/// [`take_gil_back_or_park`]), because a thread that takes the GIL while the interpreter
/// finalizes is torn down mid-call, inside Rust frames (a crash).
#[pyfunction]
fn _at_exit(py: Python<'_>) -> PyResult<()> {
    let _ = EXITING.set(std::thread::current().id());
    boundary(py, || {
        // GIL released: the running sinks and the threads already on their way back need it.
        detached(py, || {
            crate::logging::set_sink(log::LevelFilter::Off, None)?;
            // Every thread counted here holds or waits for the GIL, which this one has
            // released: each gets it in turn. A second is far more than that takes.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while RETURNING.load(std::sync::atomic::Ordering::SeqCst) > 0
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(())
        })
    })
}

/// Sends the library's records to `logging.getLogger("wxrefund")` until the interpreter
/// exits; on failure (another Rust `log` logger in this library's copy, which cannot
/// happen in a Python process short of a bug) warns instead of refusing the import.
fn install_log_sink(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let logger = py
        .import("logging")?
        .call_method1("getLogger", (crate::logging::TARGET,))?
        .unbind();
    let sink = PyLogSink { logger };
    let sink: Sink = Arc::new(move |record: &Forwarded<'_>| sink.handle(record));
    // GIL released: a record logged on another thread holds the sink lock while it
    // waits for the GIL, and set_sink waits for that lock.
    let installed = py.detach(|| crate::logging::set_sink(log::LevelFilter::Trace, Some(sink)));
    if let Err(error) = installed {
        let message = format!("wxrefund's log records will not reach Python logging: {error}");
        let message = std::ffi::CString::new(message.replace('\0', " "))
            .unwrap_or_else(|_| std::ffi::CString::from(c"wxrefund: no log records"));
        PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &message, 1)?;
    }
    Ok(())
}

/// Panics inside the library's panic boundary, with the GIL released: for the tests
/// that prove a panic becomes ``PanicError`` instead of aborting the interpreter.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    boundary(py, || {
        detached(py, move || -> Result<()> { panic!("{message}") })
    })
}

/// The compiled part of the ``wxrefund`` package; import ``wxrefund`` instead.
#[pymodule]
#[pyo3(name = "_wxrefund")]
fn wxrefund_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyClient>()?;
    module.add_function(wrap_pyfunction!(_panic_for_tests, module)?)?;
    module.add("__version__", crate::VERSION)?;
    module.add("CRYPTO_BACKEND", crate::CRYPTO_BACKEND)?;
    module.add_function(wrap_pyfunction!(_at_exit, module)?)?;
    install_log_sink(module)?;
    // Registered after `logging` was imported: runs before logging's own atexit shutdown.
    module
        .py()
        .import("atexit")?
        .call_method1("register", (module.getattr("_at_exit")?,))?;
    Ok(())
}
