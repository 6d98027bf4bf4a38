//! Which Docker engine to talk to, decided as the docker CLI decides it: `DOCKER_HOST`, else
//! the context `DOCKER_CONTEXT` names, else the config file's `currentContext` (`docker context
//! use`), else the default socket. A context's endpoint is read from the CLI's context store
//! (`<docker config dir>/contexts/meta/*/meta.json`).
//!
//! This build speaks plain HTTP over unix sockets and TCP. An endpoint that needs TLS
//! (`DOCKER_TLS_VERIFY`, `https://`, a context with TLS material) or SSH (`ssh://`) is refused
//! with the alternative named, rather than tried in the clear.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::DEFAULT_ENDPOINT;

/// Where the endpoint came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    DockerHost,
    /// A context, and how it was chosen (`DOCKER_CONTEXT`, or the config's `currentContext`).
    Context {
        name: String,
        chosen_by: String,
    },
    Default,
}

/// The endpoint, and why this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub source: Source,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::DockerHost => write!(f, "{} (DOCKER_HOST)", self.host),
            Source::Context { name, chosen_by } => {
                write!(f, "{} (context `{name}`, {chosen_by})", self.host)
            }
            Source::Default => write!(f, "{}", self.host),
        }
    }
}

#[derive(Debug, Error, Diagnostic)]
pub enum EndpointError {
    #[error("Docker context `{name}` ({chosen_by}) does not exist in {}", store.display())]
    #[diagnostic(
        code(engine::docker::context_not_found),
        help("`docker context ls` lists the contexts; unset DOCKER_CONTEXT or pick one with `docker context use NAME`")
    )]
    ContextNotFound {
        name: String,
        chosen_by: String,
        store: PathBuf,
    },
    #[error("cannot read the Docker context `{name}` at {}: {reason}", path.display())]
    #[diagnostic(code(engine::docker::context_unreadable))]
    ContextUnreadable {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("the Docker engine at {endpoint} needs {needs}, which this engine does not speak")]
    #[diagnostic(
        code(engine::docker::unsupported_transport),
        help(
            "reach the daemon's socket through an SSH tunnel instead: `ssh -nNT -L \
             /tmp/docker.sock:/var/run/docker.sock USER@HOST`, then \
             DOCKER_HOST=unix:///tmp/docker.sock (and see \"Remote Docker engines\" in the README: \
             the engine bind-mounts files of this machine)"
        )
    )]
    Unsupported { endpoint: String, needs: String },
}

/// The endpoint from the process's environment and the docker CLI's config folder.
pub fn resolve() -> Result<Endpoint, EndpointError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let config_dir = super::DockerConfig::from_env()
        .path()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    resolve_with(env, config_dir.as_deref())
}

/// [`resolve`] with the environment and the config folder given (tests).
pub fn resolve_with(
    env: impl Fn(&str) -> Option<String>,
    config_dir: Option<&Path>,
) -> Result<Endpoint, EndpointError> {
    let endpoint = if let Some(host) = env("DOCKER_HOST") {
        Endpoint {
            host,
            source: Source::DockerHost,
        }
    } else {
        let chosen = env("DOCKER_CONTEXT")
            .map(|n| (n, "DOCKER_CONTEXT".to_string()))
            .or_else(|| {
                current_context(config_dir?).map(|n| (n, "the docker CLI's current context".into()))
            });
        match chosen {
            Some((name, chosen_by)) if name != "default" => {
                context_endpoint(&name, &chosen_by, config_dir)?
            }
            _ => Endpoint {
                host: DEFAULT_ENDPOINT.to_string(),
                source: Source::Default,
            },
        }
    };
    // Set at all means TLS, as for the docker CLI (even "0").
    let tls = env("DOCKER_TLS_VERIFY").is_some() && matches!(endpoint.source, Source::DockerHost);
    check_transport(&endpoint, tls)?;
    Ok(endpoint)
}

/// Refuses what needs TLS or SSH (see the module).
fn check_transport(endpoint: &Endpoint, tls: bool) -> Result<(), EndpointError> {
    let needs = if endpoint.host.starts_with("ssh://") {
        Some("SSH")
    } else if endpoint.host.starts_with("https://") || tls {
        Some("TLS")
    } else {
        None
    };
    match needs {
        Some(needs) => Err(EndpointError::Unsupported {
            endpoint: endpoint.to_string(),
            needs: needs.to_string(),
        }),
        None => Ok(()),
    }
}

/// `currentContext` of `<dir>/config.json`, when set.
fn current_context(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["currentContext"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The docker endpoint of context `name`, from the context store (the folder names are
/// digests of the names; each `meta.json` holds its `Name`).
fn context_endpoint(
    name: &str,
    chosen_by: &str,
    config_dir: Option<&Path>,
) -> Result<Endpoint, EndpointError> {
    let store = config_dir
        .map(|d| d.join("contexts"))
        .unwrap_or_else(|| PathBuf::from("~/.docker/contexts"));
    let not_found = || EndpointError::ContextNotFound {
        name: name.to_string(),
        chosen_by: chosen_by.to_string(),
        store: store.clone(),
    };
    let entries = std::fs::read_dir(store.join("meta")).map_err(|_| not_found())?;
    for entry in entries.flatten() {
        let path = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let unreadable = |reason: String| EndpointError::ContextUnreadable {
            name: name.to_string(),
            path: path.clone(),
            reason,
        };
        let meta: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                if text.contains(&format!("\"{name}\"")) {
                    return Err(unreadable(e.to_string()));
                }
                continue;
            }
        };
        if meta["Name"] != name {
            continue;
        }
        let host = meta["Endpoints"]["docker"]["Host"]
            .as_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| unreadable("it has no Endpoints.docker.Host".into()))?;
        let endpoint = Endpoint {
            host: host.to_string(),
            source: Source::Context {
                name: name.to_string(),
                chosen_by: chosen_by.to_string(),
            },
        };
        // TLS material for the context: `contexts/tls/<same folder>/docker/`.
        let tls_dir = store.join("tls").join(entry.file_name()).join("docker");
        check_transport(&endpoint, tls_dir.is_dir())?;
        return Ok(endpoint);
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    /// A docker config folder with contexts `relay` (tcp) and `secure` (with TLS material).
    fn store() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (folder, name, host) in [
            ("a1", "relay", "tcp://127.0.0.1:2399"),
            ("b2", "secure", "tcp://docker.example:2376"),
        ] {
            let meta = dir.path().join("contexts/meta").join(folder);
            std::fs::create_dir_all(&meta).unwrap();
            std::fs::write(
                meta.join("meta.json"),
                serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}}).to_string(),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.path().join("contexts/tls/b2/docker")).unwrap();
        dir
    }

    #[test]
    fn docker_host_then_docker_context_then_the_current_context_then_the_default() {
        let s = store();
        let dir = Some(s.path());
        let got = |pairs: &[(&str, &str)]| resolve_with(env_of(pairs), dir).unwrap();
        assert_eq!(got(&[]).host, DEFAULT_ENDPOINT);
        std::fs::write(
            s.path().join("config.json"),
            r#"{"currentContext": "relay"}"#,
        )
        .unwrap();
        let e = got(&[]);
        assert_eq!(e.host, "tcp://127.0.0.1:2399");
        assert_eq!(
            e.to_string(),
            "tcp://127.0.0.1:2399 (context `relay`, the docker CLI's current context)"
        );
        assert_eq!(got(&[("DOCKER_CONTEXT", "default")]).host, DEFAULT_ENDPOINT);
        let e = got(&[
            ("DOCKER_CONTEXT", "relay"),
            ("DOCKER_HOST", "unix:///x.sock"),
        ]);
        assert_eq!(e.host, "unix:///x.sock");
        assert_eq!(e.source, Source::DockerHost);
    }

    #[test]
    fn a_missing_context_and_tls_or_ssh_are_refused_with_the_alternative() {
        let s = store();
        let dir = Some(s.path());
        let err = resolve_with(env_of(&[("DOCKER_CONTEXT", "nope")]), dir).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Docker context `nope` (DOCKER_CONTEXT) does not exist"),
            "{err}"
        );
        for (pairs, needs) in [
            (vec![("DOCKER_CONTEXT", "secure")], "TLS"),
            (
                vec![("DOCKER_HOST", "tcp://h:2376"), ("DOCKER_TLS_VERIFY", "1")],
                "TLS",
            ),
            (vec![("DOCKER_HOST", "https://h:2376")], "TLS"),
            (vec![("DOCKER_HOST", "ssh://me@h")], "SSH"),
        ] {
            match resolve_with(env_of(&pairs), dir) {
                Err(EndpointError::Unsupported { needs: n, .. }) => assert_eq!(n, needs),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        // Plain tcp stays plain.
        let e = resolve_with(env_of(&[("DOCKER_HOST", "tcp://h:2375")]), dir).unwrap();
        assert_eq!(e.host, "tcp://h:2375");
    }
}
