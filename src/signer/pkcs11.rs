//! A merchant key inside a PKCS#11 token (HSM, secure element, TPM, SoftHSM2):
//! the library asks the token to sign (`CKM_SHA256_RSA_PKCS`) and never sees
//! the key. Everything is checked when the client is created, so a broken
//! configuration fails `wxrefund_client_new` rather than the first refund.

use super::{signer_failed, Signer};
use crate::config::Pkcs11Config;
use crate::error::{Error, Result};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// A signer whose key lives in a PKCS#11 token.
///
/// One logged-in session, behind a mutex: PKCS#11 sessions must not be used
/// from two threads at once, and one RSA signature takes about a millisecond.
pub struct Pkcs11Signer {
    module: Pkcs11,
    settings: Pkcs11Config,
    key_selector: KeySelector,
    /// The user PIN (zeroized on drop), kept to log in again when a session
    /// is lost (token re-inserted).
    pin: Option<AuthPin>,
    open: Mutex<Option<Open>>,
}

/// A session with the key found in it (object handles belong to a session).
struct Open {
    session: Session,
    key: ObjectHandle,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PIN, not even its length.
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.settings.module)
            .field("token_label", &self.settings.token_label)
            .field("key_label", &self.settings.key_label)
            .field("key_id", &self.settings.key_id)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Loads the module, finds the token and the key, logs in with the PIN
    /// from the environment and makes one test signature. Every problem is
    /// an `INVALID_CONFIG` error naming the field (`signer.pkcs11.…`); no
    /// error ever contains the PIN.
    pub fn open(settings: &Pkcs11Config) -> Result<Pkcs11Signer> {
        let key_selector = KeySelector::from_settings(settings)?;
        let pin = read_pin(settings)?;
        let module = load_module(&settings.module)?;
        let signer = Pkcs11Signer {
            module,
            settings: settings.clone(),
            key_selector,
            pin,
            open: Mutex::new(None),
        };
        let open = signer.open_session(true)?;
        let key_selector = &signer.key_selector;
        // A key that cannot sign with CKM_SHA256_RSA_PKCS (not RSA, no CKA_SIGN)
        // is found now, not on the first refund.
        open.session
            .sign(
                &Mechanism::Sha256RsaPkcs,
                open.key,
                b"wxrefund signer check",
            )
            .map_err(|error| {
                Error::config(
                    key_selector.field(),
                    format!(
                        "the key cannot make an RSA PKCS#1 v1.5 SHA-256 signature \
                         (CKM_SHA256_RSA_PKCS): {error}"
                    ),
                )
            })?;
        *signer.lock() = Some(open);
        Ok(signer)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Open>> {
        // A panic while signing leaves nothing half-changed that matters: the
        // session is re-opened below if it fails.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds the token, opens a session, logs in and finds the key. At
    /// creation (`at_creation`) problems are configuration errors; later
    /// they are the signer's failures.
    fn open_session(&self, at_creation: bool) -> Result<Open> {
        let error = |field: &str, message: String| {
            if at_creation {
                Error::config(field, message)
            } else {
                signer_failed(format!("PKCS#11 token: {message}"))
            }
        };
        let slot = self
            .find_token()
            .map_err(|(field, message)| error(field, message))?;
        let session = self.module.open_ro_session(slot).map_err(|e| {
            error(
                "signer.pkcs11.token_label",
                format!("cannot open a session with the token: {e}"),
            )
        })?;
        if let Some(pin) = &self.pin {
            let variable = self.settings.pin_env.as_deref().unwrap_or("");
            match session.login(UserType::User, Some(pin)) {
                Ok(()) => remember_login(&self.settings, pin),
                // Login is per application: another client of this process (or
                // a session we lost) already logged in to this token, so the
                // token no longer checks a PIN; compare with the one it took.
                Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                    if !same_pin_as_login(&self.settings, pin) {
                        return Err(error(
                            "signer.pkcs11.pin_env",
                            format!(
                                "incorrect PIN: the PIN in the environment variable {variable} \
                                 is not the one that unlocked this token in this process"
                            ),
                        ));
                    }
                }
                Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                    return Err(error(
                        "signer.pkcs11.pin_env",
                        format!(
                            "incorrect PIN: the token refused the PIN in the environment \
                             variable {variable}"
                        ),
                    ));
                }
                Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                    return Err(error(
                        "signer.pkcs11.pin_env",
                        "the token's user PIN is locked (too many wrong PINs): the token's \
                         security officer must unlock it"
                            .to_string(),
                    ));
                }
                Err(CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _)) => {
                    return Err(error(
                        "signer.pkcs11.pin_env",
                        format!(
                            "incorrect PIN: the PIN in the environment variable {variable} \
                             has a length or characters the token does not accept"
                        ),
                    ));
                }
                Err(e) => {
                    return Err(error(
                        "signer.pkcs11.pin_env",
                        format!("the token refused the login: {e}"),
                    ));
                }
            }
        }
        let key = find_key(&session, &self.key_selector, self.pin.is_some())
            .map_err(|(field, message)| error(field, message))?;
        Ok(Open { session, key })
    }

    /// The slot of the one token labelled `token_label`.
    fn find_token(&self) -> std::result::Result<Slot, (&'static str, String)> {
        const FIELD: &str = "signer.pkcs11.token_label";
        let slots = self
            .module
            .get_slots_with_initialized_token()
            .map_err(|e| (FIELD, format!("cannot list the module's tokens: {e}")))?;
        let mut labels = Vec::new();
        let mut found = Vec::new();
        for slot in slots {
            // A slot whose token cannot be read (being removed) is not the one.
            let Ok(info) = self.module.get_token_info(slot) else {
                continue;
            };
            let label = info.label().trim_end().to_string();
            if label == self.settings.token_label {
                found.push(slot);
            }
            labels.push(label);
        }
        match found.as_slice() {
            [slot] => Ok(*slot),
            [] => {
                let listed = if labels.is_empty() {
                    "the module has no token".to_string()
                } else {
                    format!(
                        "the module's tokens are labelled {}",
                        labels
                            .iter()
                            .map(|label| format!("{label:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                Err((
                    FIELD,
                    format!(
                        "no token labelled {:?}: {listed}",
                        self.settings.token_label
                    ),
                ))
            }
            many => Err((
                FIELD,
                format!(
                    "{} tokens are labelled {:?}: give each token its own label",
                    many.len(),
                    self.settings.token_label
                ),
            )),
        }
    }
}

impl Signer for Pkcs11Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut open = self.lock();
        if let Some(current) = open.as_ref() {
            if let Ok(signature) =
                current
                    .session
                    .sign(&Mechanism::Sha256RsaPkcs, current.key, message)
            {
                return Ok(signature);
            }
        }
        // The session was lost (token removed and re-inserted, module reset):
        // one new session, then give up.
        *open = None;
        let fresh = self.open_session(false)?;
        let signature = fresh
            .session
            .sign(&Mechanism::Sha256RsaPkcs, fresh.key, message)
            .map_err(|e| signer_failed(format!("the PKCS#11 token did not sign: {e}")))?;
        *open = Some(fresh);
        Ok(signature)
    }
}

/// Which key: `key_label` or `key_id`, exactly one.
enum KeySelector {
    Label(String),
    Id(Vec<u8>),
}

impl KeySelector {
    fn from_settings(settings: &Pkcs11Config) -> Result<KeySelector> {
        match (&settings.key_label, &settings.key_id) {
            (Some(label), None) if !label.is_empty() => Ok(KeySelector::Label(label.clone())),
            (None, Some(id)) => Ok(KeySelector::Id(decode_hex(id).ok_or_else(|| {
                Error::config(
                    "signer.pkcs11.key_id",
                    "the key's CKA_ID must be given in hex (e.g. \"a1b2c3\"), an even \
                     number of digits",
                )
            })?)),
            (Some(_), Some(_)) => Err(Error::config(
                "signer.pkcs11.key_label",
                "give key_label or key_id, not both",
            )),
            _ => Err(Error::config(
                "signer.pkcs11.key_label",
                "give the key's key_label (CKA_LABEL) or key_id (CKA_ID, hex)",
            )),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            KeySelector::Label(_) => "signer.pkcs11.key_label",
            KeySelector::Id(_) => "signer.pkcs11.key_id",
        }
    }

    fn describe(&self) -> String {
        match self {
            KeySelector::Label(label) => format!("labelled {label:?}"),
            KeySelector::Id(id) => format!("with id {}", encode_hex(id)),
        }
    }

    fn attribute(&self) -> Attribute {
        match self {
            KeySelector::Label(label) => Attribute::Label(label.as_bytes().to_vec()),
            KeySelector::Id(id) => Attribute::Id(id.clone()),
        }
    }
}

/// The one private key `selector` names.
fn find_key(
    session: &Session,
    selector: &KeySelector,
    logged_in: bool,
) -> std::result::Result<ObjectHandle, (&'static str, String)> {
    let field = selector.field();
    let template = [
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        selector.attribute(),
    ];
    let keys = session
        .find_objects(&template)
        .map_err(|e| (field, format!("cannot search the token's keys: {e}")))?;
    match keys.as_slice() {
        [key] => Ok(*key),
        [] => {
            let hint = if logged_in {
                ""
            } else {
                " (no pin_env is given, so the token is not logged in and hides its \
                 private keys)"
            };
            Err((
                field,
                format!("the token has no private key {}{hint}", selector.describe()),
            ))
        }
        many => Err((
            field,
            format!(
                "{} private keys are {}: name one key",
                many.len(),
                selector.describe()
            ),
        )),
    }
}

/// The PIN from the environment variable `pin_env`, if one is named.
fn read_pin(settings: &Pkcs11Config) -> Result<Option<AuthPin>> {
    let Some(variable) = settings.pin_env.as_deref() else {
        return Ok(None);
    };
    if variable.is_empty() {
        return Err(Error::config(
            "signer.pkcs11.pin_env",
            "give the name of the environment variable holding the PIN",
        ));
    }
    let value = std::env::var_os(variable).ok_or_else(|| {
        Error::config(
            "signer.pkcs11.pin_env",
            format!("the environment variable {variable} (the token's user PIN) is not set"),
        )
    })?;
    match String::from_utf8(value.into_encoded_bytes()) {
        Ok(pin) if !pin.is_empty() => Ok(Some(AuthPin::from(pin))),
        Ok(_) => Err(Error::config(
            "signer.pkcs11.pin_env",
            format!("the environment variable {variable} (the token's user PIN) is empty"),
        )),
        Err(not_utf8) => {
            zeroize::Zeroize::zeroize(&mut not_utf8.into_bytes());
            Err(Error::config(
                "signer.pkcs11.pin_env",
                format!("the environment variable {variable} (the token's user PIN) is not UTF-8"),
            ))
        }
    }
}

/// A salted digest of the PIN that logged in to each token of this process
/// (by module and token label): a PKCS#11 login holds for the whole
/// process, so a later client's PIN is checked against it. Never the PIN.
fn logins() -> MutexGuard<'static, Logins> {
    static LOGINS: OnceLock<Mutex<Logins>> = OnceLock::new();
    LOGINS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// PIN digests by (module, token label).
type Logins = HashMap<(PathBuf, String), [u8; 32]>;

/// SHA-256 of a per-process random salt and the PIN.
fn pin_digest(pin: &AuthPin) -> [u8; 32] {
    use crate::crypto::backend::digest::{Context, SHA256};
    use crate::crypto::backend::rand::{SecureRandom, SystemRandom};
    use secrecy::ExposeSecret;
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    let salt = SALT.get_or_init(|| {
        let mut salt = [0u8; 32];
        // A failed CSPRNG leaves a zero salt: the digest still never leaves the process.
        let _ = SystemRandom::new().fill(&mut salt);
        salt
    });
    let mut context = Context::new(&SHA256);
    context.update(salt);
    context.update(pin.expose_secret().as_bytes());
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    digest
}

fn token_key(settings: &Pkcs11Config) -> (PathBuf, String) {
    let module = settings
        .module
        .canonicalize()
        .unwrap_or_else(|_| settings.module.clone());
    (module, settings.token_label.clone())
}

/// Remembers that `pin` unlocked the token of `settings`.
fn remember_login(settings: &Pkcs11Config, pin: &AuthPin) {
    logins().insert(token_key(settings), pin_digest(pin));
}

/// Whether `pin` is the one that unlocked the token of `settings` in this
/// process. A token unlocked by the host itself, outside this library, is
/// taken as it is (there is no PIN to compare with).
fn same_pin_as_login(settings: &Pkcs11Config, pin: &AuthPin) -> bool {
    logins()
        .get(&token_key(settings))
        .is_none_or(|digest| *digest == pin_digest(pin))
}

/// The module at `path`, loaded and initialized once per process: PKCS#11
/// allows one `C_Initialize` per module, shared by every client (and never
/// finalized, since other clients may still use it).
fn load_module(path: &Path) -> Result<Pkcs11> {
    const FIELD: &str = "signer.pkcs11.module";
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    if !path.is_file() {
        return Err(Error::config(
            FIELD,
            format!("no PKCS#11 module at {}: not a file", path.display()),
        ));
    }
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.get(&key) {
        return Ok(module.clone());
    }
    let module = Pkcs11::new(&key).map_err(|e| {
        Error::config(
            FIELD,
            format!("{} is not a PKCS#11 module: {e}", path.display()),
        )
    })?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // The host initialized it itself: use it as it is.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Error::config(
                FIELD,
                format!("the PKCS#11 module {} failed to start: {e}", path.display()),
            ))
        }
    }
    modules.insert(key, module.clone());
    Ok(module)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.is_empty() || text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use std::process::Command;

    #[test]
    fn hex_ids_decode_and_refuse_garbage() {
        assert_eq!(decode_hex("a1B2c3"), Some(vec![0xa1, 0xb2, 0xc3]));
        assert_eq!(decode_hex("0x01"), Some(vec![1]));
        for bad in ["", "abc", "zz", "é1", "0x"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
        assert_eq!(encode_hex(&[0, 0xff]), "00ff");
    }

    #[test]
    fn exactly_one_of_key_label_and_key_id() {
        let mut settings = Pkcs11Config {
            module: PathBuf::from("/nonexistent"),
            token_label: "t".into(),
            key_label: Some("k".into()),
            key_id: Some("01".into()),
            pin_env: None,
        };
        let both = Pkcs11Signer::open(&settings).unwrap_err();
        assert_eq!(both.field.as_deref(), Some("signer.pkcs11.key_label"));
        settings.key_label = None;
        settings.key_id = None;
        let neither = Pkcs11Signer::open(&settings).unwrap_err();
        assert_eq!(neither.field.as_deref(), Some("signer.pkcs11.key_label"));
        settings.key_id = Some("xyz".into());
        let bad = Pkcs11Signer::open(&settings).unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("signer.pkcs11.key_id"));
    }

    /// PKCS#1 v1.5 is deterministic: the token's signature is byte for byte
    /// the PEM key's. One test: closing sessions logs the token out for all.
    #[test]
    fn token_signs_like_the_pem_key_and_recovers_a_lost_session() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join(format!("target/softhsm-unit-{}", std::process::id()));
        let pin = "unit-test-pin-7311";
        let output = Command::new(root.join("scripts/softhsm.sh"))
            .arg(&dir)
            .arg("wxrefund-unit")
            .env("WXREFUND_PKCS11_PIN", pin)
            .output()
            .expect("scripts/softhsm.sh runs");
        assert!(
            output.status.success(),
            "scripts/softhsm.sh failed (SoftHSM2 missing? run scripts/install-deps.sh): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} in {stdout}"))
                .to_string()
        };
        // SoftHSM2 reads its configuration when the module starts: before any open.
        std::env::set_var("SOFTHSM2_CONF", value("SOFTHSM2_CONF"));
        std::env::set_var("WXREFUND_UNIT_PIN", pin);
        let signer = Pkcs11Signer::open(&Pkcs11Config {
            module: PathBuf::from(value("WXREFUND_PKCS11_MODULE")),
            token_label: "wxrefund-unit".into(),
            key_label: None,
            key_id: Some(value("WXREFUND_PKCS11_KEY_ID")),
            pin_env: Some("WXREFUND_UNIT_PIN".into()),
        })
        .expect("the token opens");
        assert!(!format!("{signer:?}").contains(pin));
        let pem = std::fs::read(root.join("sim/keys/merchant_key.pem")).expect("the key");
        let key = SigningKey::from_pem(&pem, "private_key_pem").expect("a key");
        for message in [&b"POST\n/v3/refund/domestic/refunds\n1\nn\n{}\n"[..], b""] {
            let from_token = signer.sign(message).expect("the token signs");
            assert_eq!(from_token.len(), 256);
            assert_eq!(from_token, key.sign_raw(message).expect("the key signs"));
        }

        // The session is lost (closing the last one logs the token out, as a
        // re-inserted token would be): the signer opens a new one and signs.
        let message = b"after the session was lost";
        let lose_session = |signer: &Pkcs11Signer| {
            let mut open = signer.lock();
            let lost = open.take().expect("a session");
            let key = lost.key;
            let slot = lost.session.get_session_info().expect("info").slot_id();
            lost.session.close().expect("closed");
            let session = signer.module.open_ro_session(slot).expect("a session");
            let signed = session.sign(&Mechanism::Sha256RsaPkcs, key, b"x");
            assert!(signed.is_err(), "the new session is not logged in");
            *open = Some(Open { session, key });
        };
        lose_session(&signer);
        let expected = key.sign_raw(message).expect("the key signs");
        assert_eq!(signer.sign(message).expect("signed again"), expected);
        // Lost, and the token cannot be found again: SIGNER_FAILED, retryable.
        lose_session(&signer);
        let mut signer = signer;
        signer.settings.token_label = "removed".into();
        let error = signer.sign(message).unwrap_err();
        assert_eq!(error.kind, crate::ErrorKind::SignerFailed, "{error:?}");
        assert!(
            error.retryable && error.message.contains("removed"),
            "{error:?}"
        );
        assert!(!error.to_json().to_string().contains(pin));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
