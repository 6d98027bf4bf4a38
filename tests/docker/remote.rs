//! Docker engines reached other ways than the default socket: the machine's daemon over TCP (a
//! `socat` relay on a loopback port, started and stopped by the test), the same through a
//! docker CLI context (`currentContext`, `DOCKER_CONTEXT`), and endpoints the engine cannot
//! reach or will not speak to (an unreachable port, TLS, a missing context).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// `socat` relaying a loopback TCP port to the daemon's socket; stopped when dropped.
struct Relay {
    child: Child,
    port: u16,
}

impl Relay {
    fn start(test: &str) -> Option<Relay> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = match Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg("UNIX-CONNECT:/var/run/docker.sock")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return skip_or_fail(
                    test,
                    &format!("no socat ({e}): scripts/install-test-deps.sh installs it"),
                )
            }
        };
        let relay = Relay { child, port };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "socat did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(relay)
    }

    fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `engine ARGS` in `dir` with the Docker endpoint settings given, all others removed.
fn engine_with(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut cmd = engine_cmd(dir, args);
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_daemon_over_tcp_and_through_a_context_and_what_it_refuses() {
    let test = "the_daemon_over_tcp_and_through_a_context_and_what_it_refuses";
    let Some(_t) = DockerTest::start() else {
        return;
    };
    let Some(relay) = Relay::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir_all(&root).unwrap();
    busybox::write_project(&root, "", "", "", "execute = \"echo over-the-relay\"\n");
    let tcp = relay.endpoint();
    // The run's first line: `N nodes on Docker Engine 20.10.24 (tcp://127.0.0.1:PORT)`.
    let on_relay =
        |said: &str| said.contains("nodes on Docker Engine") && said.contains(&format!("({tcp})"));

    // DOCKER_HOST=tcp://...: the whole run over TCP, the BuildKit build included.
    let (code, said) = engine_with(&root, &["run", "-v", "--rebuild"], &[("DOCKER_HOST", &tcp)]);
    assert_eq!(code, Some(0), "{said}");
    assert!(on_relay(&said), "{said}");
    assert!(said.contains("over-the-relay"), "{said}");
    assert!(said.contains("[engine] builder: BuildKit"), "{said}");

    // A docker CLI context naming the relay, chosen by `docker context use` (currentContext).
    let config = dir.path().join("docker-config");
    let meta = config.join("contexts/meta/0123abcd");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({"Name": "relay", "Metadata": {}, "Endpoints": {"docker": {"Host": tcp, "SkipTLSVerify": false}}}).to_string(),
    )
    .unwrap();
    std::fs::write(config.join("config.json"), r#"{"currentContext": "relay"}"#).unwrap();
    let docker_config = config.display().to_string();
    let (code, said) = engine_with(&root, &["run"], &[("DOCKER_CONFIG", &docker_config)]);
    assert_eq!(code, Some(0), "{said}");
    assert!(on_relay(&said), "the context's endpoint: {said}");
    // DOCKER_CONTEXT wins over currentContext; `default` is the default socket.
    let (code, said) = engine_with(
        &root,
        &["run"],
        &[
            ("DOCKER_CONFIG", &docker_config),
            ("DOCKER_CONTEXT", "default"),
        ],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("(unix:///var/run/docker.sock)"), "{said}");
    let (code, said) = engine_with(
        &root,
        &["run"],
        &[
            ("DOCKER_CONFIG", &docker_config),
            ("DOCKER_CONTEXT", "nope"),
        ],
    );
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains("Docker context `nope` (DOCKER_CONTEXT) does not exist"),
        "{said}"
    );

    // TLS is refused with the alternative, not tried in the clear.
    let (code, said) = engine_with(
        &root,
        &["run"],
        &[("DOCKER_HOST", &tcp), ("DOCKER_TLS_VERIFY", "1")],
    );
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("(DOCKER_HOST) needs TLS"), "{said}");
    assert!(said.contains("ssh -nNT -L"), "{said}");

    // Nothing listens: exit 3 naming the endpoint.
    drop(relay);
    let (code, said) = engine_with(&root, &["run"], &[("DOCKER_HOST", "tcp://127.0.0.1:1")]);
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains("cannot reach the Docker daemon at tcp://127.0.0.1:1"),
        "{said}"
    );
    let _ = engine(&root, &["clean", "--images"]);
}
