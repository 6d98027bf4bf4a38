//! Registry credentials for a pull, read from the Docker client's config file as `docker login`
//! writes it: `$DOCKER_CONFIG/config.json` when DOCKER_CONFIG is set, else
//! `$HOME/.docker/config.json`.
//!
//! Only credentials kept in the file itself (`auths`: `auth`, or `username`/`password`, and
//! `identitytoken`) are used. Credentials kept by a credential helper (`credsStore`,
//! `credHelpers`) are not: asking for them is an [`AuthError::Helper`] that says what to do.
//! No file, or no entry for the registry, means an anonymous pull.
//!
//! Secrets never reach Display or Debug output: [`RegistryCredentials`] prints them as
//! `<hidden>`, and no [`AuthError`] quotes the file's values.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::BollardRequest;
use miette::Diagnostic;
use serde_json::{Map, Value};
use thiserror::Error;

/// `auth` values are standard base64; accept them with or without padding, as Docker does.
const AUTH_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The registry host a reference names: its first path component when that contains `.` or `:`
/// or is `localhost`. `None`: the daemon's default registry (its `IndexServerAddress`, which
/// the caller asks the daemon for; no registry is named in this code).
pub fn registry_host(reference: &str) -> Option<&str> {
    let (first, _) = reference.split_once('/')?;
    let is_host = first.contains(['.', ':']) || first == "localhost";
    is_host.then_some(first)
}

/// The host an `auths` or `credHelpers` key stands for: `host`, `https://host`, `http://host`,
/// each with or without a trailing `/`, `/v1/` or `/v2/`.
fn key_host(key: &str) -> &str {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key
        .strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key);
    key.trim_end_matches('/')
}

/// Whether config key `key` is for registry `host`.
fn key_matches(key: &str, host: &str) -> bool {
    key_host(key).eq_ignore_ascii_case(key_host(host))
}

/// Which Docker client config file to read credentials from.
///
/// [`DockerConfig::from_env`] (the default) resolves the file at each lookup, as the docker CLI
/// does; [`DockerConfig::in_dir`] is what `DOCKER_CONFIG=dir` would be, without touching the
/// process environment (for tests, which run in parallel threads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    dir: Option<PathBuf>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn from_env() -> DockerConfig {
        DockerConfig::default()
    }

    /// `dir/config.json`, whatever the environment says.
    pub fn in_dir(dir: impl Into<PathBuf>) -> DockerConfig {
        DockerConfig {
            dir: Some(dir.into()),
        }
    }

    /// The config file this reads, or `None` when neither DOCKER_CONFIG nor HOME is set.
    pub fn path(&self) -> Option<PathBuf> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => match non_empty("DOCKER_CONFIG") {
                Some(dir) => PathBuf::from(dir),
                None => PathBuf::from(non_empty("HOME")?).join(".docker"),
            },
        };
        Some(dir.join("config.json"))
    }

    /// The credentials to pull `reference` with; `Ok(None)` for an anonymous pull (no config
    /// file, or no entry for the reference's registry). `default_registry`: the daemon's
    /// `IndexServerAddress`, the registry of references that name no host (unknown: anonymous).
    pub fn credentials_for(
        &self,
        reference: &str,
        default_registry: Option<&str>,
    ) -> Result<Option<RegistryCredentials>, AuthError> {
        let Some(registry) = registry_host(reference).or(default_registry) else {
            return Ok(None);
        };
        let Some(path) = self.path() else {
            return Ok(None);
        };
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(AuthError::Unreadable { path, source }),
        };
        credentials_in(&text, &path, registry)
    }
}

/// The credentials for registry `host` (a host, or an address as the daemon gives its default
/// registry) in the text of config file `path`.
fn credentials_in(
    text: &[u8],
    path: &Path,
    host: &str,
) -> Result<Option<RegistryCredentials>, AuthError> {
    let invalid = |reason: String| AuthError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    // Parsed as a plain JSON value, so that no error message quotes a value of the file
    // (serde's type errors would).
    let config: Value = serde_json::from_slice(text).map_err(|e| {
        invalid(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let config = config
        .as_object()
        .ok_or_else(|| invalid("not a JSON object".into()))?;
    let object = |field: &str| -> Result<Option<&Map<String, Value>>, AuthError> {
        match config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(invalid(format!("`{field}` is not an object"))),
        }
    };
    let helper_error = |helper: &str| AuthError::Helper {
        host: host.to_string(),
        helper: helper.to_string(),
        path: path.to_path_buf(),
    };

    // A credential helper for this very registry: the file has nothing for it.
    if let Some(helpers) = object("credHelpers")? {
        if let Some((_, helper)) = helpers.iter().find(|(key, _)| key_matches(key, host)) {
            return Err(helper_error(helper.as_str().unwrap_or("?")));
        }
    }
    let store = config
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());

    let Some(auths) = object("auths")? else {
        return Ok(None);
    };
    // The key as `docker login` writes it first, then the other spellings (sorted, so the
    // choice does not depend on the file's order).
    let exact = host;
    let mut keys: Vec<&String> = auths.keys().filter(|k| key_matches(k, host)).collect();
    keys.sort_by_key(|k| (k.as_str() != exact, k.as_str()));
    let Some(key) = keys.first() else {
        // With a credsStore the docker CLI would ask the store even without an entry; the
        // engine cannot, and pulls anonymously.
        return Ok(None);
    };
    let entry = auths[key.as_str()]
        .as_object()
        .ok_or_else(|| invalid(format!("the `auths` entry `{key}` is not an object")))?;
    let string = |field: &str| -> Result<Option<String>, AuthError> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!(
                "`{field}` of the `auths` entry `{key}` is not a string"
            ))),
        }
    };

    let (mut username, mut password) = (string("username")?, string("password")?);
    if let Some(auth) = string("auth")? {
        let not_user_password = || {
            invalid(format!(
                "`auth` of `{key}` is not base64 of `user:password`"
            ))
        };
        let decoded = AUTH_BASE64
            .decode(auth.trim())
            .map_err(|_| not_user_password())?;
        let decoded = String::from_utf8(decoded).map_err(|_| not_user_password())?;
        let (user, pass) = decoded.split_once(':').ok_or_else(not_user_password)?;
        username = Some(user.to_string()).filter(|s| !s.is_empty());
        password = Some(pass.to_string()).filter(|s| !s.is_empty());
    }
    let identity_token = string("identitytoken")?;

    if username.is_none() && password.is_none() && identity_token.is_none() {
        // `docker login` with a credsStore leaves an empty entry here: the secret is in the store.
        return match store {
            Some(store) => Err(helper_error(store)),
            None => Ok(None),
        };
    }
    Ok(Some(RegistryCredentials {
        server_address: key.to_string(),
        username,
        password,
        identity_token,
    }))
}

/// Credentials for one registry. Debug prints the secrets as `<hidden>`.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// The `auths` key they were found under (the registry's address as `docker login` wrote it).
    pub server_address: String,
    username: Option<String>,
    password: Option<String>,
    identity_token: Option<String>,
}

impl RegistryCredentials {
    /// A user name and password for the registry at `server_address`.
    pub fn new(
        server_address: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> RegistryCredentials {
        RegistryCredentials {
            server_address: server_address.into(),
            username: Some(username.into()),
            password: Some(password.into()),
            identity_token: None,
        }
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn identity_token(&self) -> Option<&str> {
        self.identity_token.as_deref()
    }

    /// What bollard sends to the daemon (the `X-Registry-Auth` header).
    pub fn to_bollard(&self) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.clone(),
            serveraddress: Some(self.server_address.clone()),
            identitytoken: self.identity_token.clone(),
            ..Default::default()
        }
    }
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("RegistryCredentials")
            .field("server_address", &self.server_address)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("identity_token", &hidden(&self.identity_token))
            .finish()
    }
}

/// Why the credentials for a registry cannot be read.
#[derive(Debug, Error, Diagnostic)]
pub enum AuthError {
    #[error("cannot read the Docker config file {path}")]
    #[diagnostic(
        code(engine::docker::auth::unreadable),
        help("set DOCKER_CONFIG to a folder whose config.json this user may read")
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the Docker config file {path} is invalid: {reason}")]
    #[diagnostic(
        code(engine::docker::auth::invalid),
        help("`docker login` writes it; fix or remove the file, or set DOCKER_CONFIG to another folder")
    )]
    Invalid { path: PathBuf, reason: String },

    #[error(
        "the credentials for registry `{host}` are kept by the Docker credential helper \
         `{helper}` ({path}), which the engine cannot use: run `docker login {host}` with a \
         plain config file (no credsStore or credHelpers), or set DOCKER_CONFIG to a folder \
         whose config.json holds them"
    )]
    #[diagnostic(
        code(engine::docker::auth::helper),
        help(
            "e.g. `DOCKER_CONFIG=$HOME/.engine-docker docker login HOST`, then run the engine \
             with the same DOCKER_CONFIG"
        )
    )]
    Helper {
        host: String,
        helper: String,
        path: PathBuf,
    },
}

/// bollard encodes the `X-Registry-Auth` and `X-Registry-Config` headers in standard base64, but
/// the daemon decodes them as URL-safe base64 (RFC 4648 §5), as the docker CLI encodes them. A
/// header with `+` or `/` (a password with `~`, `?`, `>` or non-ASCII characters can give
/// them) does not decode, and the daemon then pulls anonymously without a word. This request
/// modifier (installed on every [`super::DockerClient`]) re-encodes those headers URL-safe.
pub fn url_safe_registry_headers(mut request: BollardRequest) -> BollardRequest {
    for name in ["x-registry-auth", "x-registry-config"] {
        let Some(value) = request.headers_mut().get_mut(name) else {
            continue;
        };
        let Ok(text) = value.to_str() else {
            continue;
        };
        if text.contains(['+', '/']) {
            if let Ok(fixed) = text.replace('+', "-").replace('/', "_").parse() {
                *value = fixed;
            }
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr~?>t pa:ss";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// The daemon's default registry in these tests (a made-up address).
    const DEFAULT: &str = "https://index.registry.invalid/v1/";

    fn lookup(config: &str, reference: &str) -> Result<Option<RegistryCredentials>, AuthError> {
        credentials_in(
            config.as_bytes(),
            Path::new("/cfg/config.json"),
            registry_host(reference).unwrap_or(DEFAULT),
        )
    }

    fn user_pass(c: &RegistryCredentials) -> (Option<&str>, Option<&str>) {
        (c.username(), c.password())
    }

    #[test]
    fn the_registry_is_the_first_component_when_it_looks_like_a_host() {
        assert_eq!(
            registry_host("127.0.0.1:5000/a/b:1"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(registry_host("localhost/a"), Some("localhost"));
        assert_eq!(
            registry_host("localhost:5000/a@sha256:00"),
            Some("localhost:5000")
        );
        assert_eq!(
            registry_host("registry.example/a"),
            Some("registry.example")
        );
        assert_eq!(registry_host("host:5000/a"), Some("host:5000"));
        // The daemon's default registry: no host, or a plain first component.
        assert_eq!(registry_host("debian:12"), None);
        assert_eq!(registry_host("debian"), None);
        assert_eq!(registry_host("library/debian:12"), None);
        assert_eq!(registry_host("someone/tool:1"), None);
        assert_eq!(registry_host("a@sha256:00"), None);
    }

    #[test]
    fn keys_match_in_every_spelling_docker_writes() {
        for key in [
            "127.0.0.1:5000",
            "https://127.0.0.1:5000",
            "http://127.0.0.1:5000",
            "https://127.0.0.1:5000/",
            "https://127.0.0.1:5000/v1/",
            "http://127.0.0.1:5000/v2/",
            "127.0.0.1:5000/v2",
        ] {
            assert!(key_matches(key, "127.0.0.1:5000"), "{key}");
        }
        assert!(!key_matches("127.0.0.1:5001", "127.0.0.1:5000"));
        assert!(!key_matches("https://127.0.0.1", "127.0.0.1:5000"));
        assert!(key_matches(DEFAULT, "index.registry.invalid"));
        assert!(!key_matches("127.0.0.1:5000", DEFAULT));

        let config = format!(
            r#"{{"auths": {{"https://127.0.0.1:5000/v2/": {{"auth": "{}"}}}}}}"#,
            b64("u:p")
        );
        let c = lookup(&config, "127.0.0.1:5000/x:1").unwrap().unwrap();
        assert_eq!(user_pass(&c), (Some("u"), Some("p")));
        assert_eq!(c.server_address, "https://127.0.0.1:5000/v2/");
        assert!(lookup(&config, "127.0.0.1:5001/x:1").unwrap().is_none());
        assert!(lookup(&config, "x:1").unwrap().is_none());
    }

    #[test]
    fn the_key_docker_login_writes_wins_over_other_spellings() {
        let config = format!(
            r#"{{"auths": {{"http://h:1/v1/": {{"auth": "{}"}}, "h:1": {{"auth": "{}"}}}}}}"#,
            b64("old:x"),
            b64("new:y")
        );
        let c = lookup(&config, "h:1/x").unwrap().unwrap();
        assert_eq!(user_pass(&c), (Some("new"), Some("y")));
    }

    #[test]
    fn a_reference_without_host_uses_the_daemons_default_registry() {
        let config = format!(
            r#"{{"auths": {{"{DEFAULT}": {{"auth": "{}"}}, "h:1": {{"auth": "{}"}}}}}}"#,
            b64("hub:1"),
            b64("other:2")
        );
        for reference in ["debian:12", "someone/tool"] {
            let c = lookup(&config, reference).unwrap().unwrap();
            assert_eq!(user_pass(&c), (Some("hub"), Some("1")), "{reference}");
        }
    }

    #[test]
    fn auth_is_decoded_and_split_at_the_first_colon() {
        let config = format!(
            r#"{{"auths": {{"h:1": {{"auth": "{}"}}}}}}"#,
            b64(&format!("me:{SECRET}"))
        );
        let c = lookup(&config, "h:1/x").unwrap().unwrap();
        assert_eq!(user_pass(&c), (Some("me"), Some(SECRET)));
        // Without padding too.
        let unpadded = b64("me:ab").trim_end_matches('=').to_string();
        let config = format!(r#"{{"auths": {{"h:1": {{"auth": "{unpadded}"}}}}}}"#);
        let c = lookup(&config, "h:1/x").unwrap().unwrap();
        assert_eq!(user_pass(&c), (Some("me"), Some("ab")));
    }

    #[test]
    fn username_password_and_identity_token_fields_are_read() {
        let config = r#"{"auths": {"h:1": {"username": "me", "password": "pw"}}}"#;
        let c = lookup(config, "h:1/x").unwrap().unwrap();
        assert_eq!(user_pass(&c), (Some("me"), Some("pw")));
        assert_eq!(c.identity_token(), None);

        let config = r#"{"auths": {"h:1": {"identitytoken": "tok"}}}"#;
        let c = lookup(config, "h:1/x").unwrap().unwrap();
        assert_eq!(c.identity_token(), Some("tok"));
        assert_eq!(c.to_bollard().identitytoken.as_deref(), Some("tok"));

        let b = RegistryCredentials::new("h:1", "me", "pw").to_bollard();
        assert_eq!(
            (
                b.username.as_deref(),
                b.password.as_deref(),
                b.serveraddress.as_deref()
            ),
            (Some("me"), Some("pw"), Some("h:1"))
        );
    }

    #[test]
    fn bad_auth_values_are_errors_that_quote_nothing() {
        for auth in ["%%%not base64", &b64("no colon here")] {
            let config = format!(r#"{{"auths": {{"h:1": {{"auth": "{auth}"}}}}}}"#);
            let e = lookup(&config, "h:1/x").unwrap_err();
            assert!(matches!(e, AuthError::Invalid { .. }), "{e:?}");
            let shown = format!("{e} {e:?}");
            assert!(
                shown.contains("/cfg/config.json") && shown.contains("h:1"),
                "{shown}"
            );
            assert!(!shown.contains(auth), "{shown}");
        }
        let e = lookup(r#"{"auths": {"h:1": {"password": 12345}}}"#, "h:1/x").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("12345"), "{e}");
    }

    #[test]
    fn no_file_or_no_entry_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let config = DockerConfig::in_dir(dir.path());
        assert_eq!(config.path(), Some(dir.path().join("config.json")));
        assert!(config.credentials_for("h:1/x", None).unwrap().is_none());

        assert!(lookup("{}", "h:1/x").unwrap().is_none());
        assert!(lookup(r#"{"auths": {}}"#, "h:1/x").unwrap().is_none());
        // An empty entry without a store: nothing to send.
        assert!(lookup(r#"{"auths": {"h:1": {}}}"#, "h:1/x")
            .unwrap()
            .is_none());
        // A store, but nothing for this registry here.
        assert!(lookup(r#"{"credsStore": "desktop"}"#, "h:1/x")
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_file_on_disk_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let auth = b64(&format!("me:{SECRET}"));
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"127.0.0.1:5000": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let c = DockerConfig::in_dir(dir.path())
            .credentials_for("127.0.0.1:5000/a/b:1", None)
            .unwrap()
            .unwrap();
        assert_eq!(user_pass(&c), (Some("me"), Some(SECRET)));
    }

    #[test]
    fn an_invalid_or_unreadable_file_is_an_error_naming_it() {
        let e = lookup("{ not json", "h:1/x").unwrap_err();
        assert!(matches!(e, AuthError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains("/cfg/config.json"), "{e}");
        let e = lookup("[]", "h:1/x").unwrap_err();
        assert!(e.to_string().contains("not a JSON object"), "{e}");
        let e = lookup(r#"{"auths": []}"#, "h:1/x").unwrap_err();
        assert!(e.to_string().contains("`auths`"), "{e}");

        // A folder where the file should be cannot be read (also as root).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config.json")).unwrap();
        let e = DockerConfig::in_dir(dir.path())
            .credentials_for("h:1/x", None)
            .unwrap_err();
        assert!(matches!(e, AuthError::Unreadable { .. }), "{e:?}");
        assert!(e.to_string().contains("config.json"), "{e}");
    }

    #[test]
    fn credential_helpers_are_a_clear_error() {
        let e = lookup(r#"{"credHelpers": {"h:1": "secretservice"}}"#, "h:1/x").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, AuthError::Helper { .. }), "{e:?}");
        for part in [
            "`h:1`",
            "secretservice",
            "docker login",
            "DOCKER_CONFIG",
            "/cfg/config.json",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // A helper for another registry does not matter.
        assert!(lookup(r#"{"credHelpers": {"h:2": "x"}}"#, "h:1/x")
            .unwrap()
            .is_none());

        // `docker login` with a store leaves an empty entry: the secret is in the store.
        let e = lookup(
            r#"{"auths": {"https://h:1": {}}, "credsStore": "desktop"}"#,
            "h:1/x",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`desktop`"), "{e}");
        // The default registry is named by the address the daemon gives.
        let e = lookup(
            r#"{"credHelpers": {"index.registry.invalid": "x"}}"#,
            "debian",
        )
        .unwrap_err();
        assert!(e.to_string().contains(DEFAULT), "{e}");
    }

    #[test]
    fn debug_hides_the_secrets() {
        let mut c = RegistryCredentials::new("h:1", "me", SECRET);
        c.identity_token = Some("tok-secret".into());
        let shown = format!("{c:?} {c:#?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("tok-secret"),
            "{shown}"
        );
        assert!(
            shown.contains("<hidden>") && shown.contains("me"),
            "{shown}"
        );
    }

    #[test]
    fn registry_headers_are_re_encoded_url_safe() {
        // The password gives `+` or `/` in bollard's standard base64 of the credentials.
        let creds = RegistryCredentials::new("h:1", "me", SECRET).to_bollard();
        let json = serde_json::to_string(&creds).unwrap();
        let standard = base64::engine::general_purpose::STANDARD.encode(&json);
        assert!(standard.contains(['+', '/']), "{standard}");

        let mut request = BollardRequest::new(bollard::body_full(Vec::new().into()));
        request
            .headers_mut()
            .insert("X-Registry-Auth", standard.parse().unwrap());
        request
            .headers_mut()
            .insert("X-Registry-Config", "ab+/".parse().unwrap());
        let request = url_safe_registry_headers(request);
        let sent = request.headers()["x-registry-auth"].to_str().unwrap();
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(sent)
            .unwrap();
        assert_eq!(decoded, json.as_bytes());
        assert_eq!(request.headers()["x-registry-config"], "ab-_");
    }
}
