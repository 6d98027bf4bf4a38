//! Pulls from a real registry: Debian's `docker-registry` on 127.0.0.1 ([`Registry`]), through
//! the engine's `DockerClient::pull`: by tag, by digest, a missing tag, and a registry behind
//! a login, with credentials from a Docker config file as `docker login` writes it.
//!
//! Each test has a registry of its own (its own port) and images named after it, so the tests
//! run in parallel. Credentials come from an explicit folder ([`DockerConfig::in_dir`]), not by
//! setting DOCKER_CONFIG, which would change the environment of every test thread. Each test
//! removes what it pulled by reference; dropping the registry removes whatever a panic left.

use engine::docker::{DockerClient, DockerConfig, DockerError};

use crate::support::registry::{docker_config, Registry};

/// Has `~`, `?` and `>`: bollard's standard base64 of the credentials then has `+` or `/`,
/// which the daemon (URL-safe base64) would not decode; the engine re-encodes the header.
const PASSWORD: &str = "pw~?>-sekrit";
const USER: &str = "engine";

/// `reference` is gone from the daemon after `remove_image`.
async fn remove(client: &DockerClient, reference: &str) {
    client
        .remove_image(reference, true)
        .await
        .unwrap_or_else(|e| panic!("remove {reference}: {e}"));
    assert!(
        client.image_identity(reference).await.unwrap().is_none(),
        "{reference} is still there"
    );
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn pull_by_tag_from_a_local_registry() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let registry = Registry::start();
    let pushed = registry.push_busybox("engine-test/base:1", "by-tag").await;
    assert_eq!(
        pushed.reference,
        format!("{}/engine-test/base:1", registry.host())
    );
    assert!(
        client
            .image_identity(&pushed.reference)
            .await
            .unwrap()
            .is_none(),
        "the push left a local copy"
    );

    client.pull(&pushed.reference).await.expect("pull by tag");
    let identity = client
        .image_identity(&pushed.reference)
        .await
        .unwrap()
        .expect("the pulled image");
    assert!(
        identity.repo_digests.contains(&pushed.by_digest()),
        "{:?} lacks {}",
        identity.repo_digests,
        pushed.by_digest()
    );
    remove(&client, &pushed.reference).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn pull_by_digest_from_a_local_registry() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let registry = Registry::start();
    let first = registry.push_busybox("engine-test/pinned:1", "first").await;
    // The tag moves on; the digest still names the first image.
    let second = registry
        .push_busybox("engine-test/pinned:1", "second")
        .await;
    assert_ne!(first.digest, second.digest);

    let pinned = first.by_digest();
    client.pull(&pinned).await.expect("pull by digest");
    let identity = client
        .image_identity(&pinned)
        .await
        .unwrap()
        .expect("the image, by its digest");
    assert!(identity.repo_digests.contains(&pinned), "{identity:?}");
    // By digest, no tag was made (and no other tag of the repository was pulled).
    assert!(
        client
            .image_identity(&first.reference)
            .await
            .unwrap()
            .is_none(),
        "a pull by digest tagged {}",
        first.reference
    );
    remove(&client, &pinned).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn a_missing_tag_is_a_pull_failure_with_the_registrys_answer() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let registry = Registry::start();
    registry.push_busybox("engine-test/base:1", "present").await;
    let missing = registry.reference("engine-test/base:nope");

    let err = client.pull(&missing).await.expect_err("no such tag");
    match &err {
        DockerError::PullFailed { reference, reason } => {
            assert_eq!(reference, &missing);
            let lower = reason.to_lowercase();
            assert!(
                lower.contains("not found") || lower.contains("manifest unknown"),
                "{reason}"
            );
        }
        other => panic!("expected PullFailed, got {other:?}"),
    }
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(client.image_identity(&missing).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn a_login_registry_needs_the_credentials_of_the_docker_config() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let registry = Registry::start_with_login(USER, PASSWORD);
    let pushed = registry
        .push_busybox("engine-test/private:1", "private")
        .await;
    let configs = tempfile::tempdir().unwrap();

    // No config file: an anonymous pull, refused.
    let anonymous = client
        .clone()
        .with_docker_config(DockerConfig::in_dir(configs.path().join("none")));
    let err = anonymous
        .pull(&pushed.reference)
        .await
        .expect_err("anonymous");
    let DockerError::PullFailed { reason, .. } = &err else {
        panic!("expected PullFailed, got {err:?}");
    };
    let lower = reason.to_lowercase();
    assert!(
        [
            "unauthorized",
            "no basic auth credentials",
            "authentication required"
        ]
        .iter()
        .any(|w| lower.contains(w)),
        "{reason}"
    );
    assert!(reason.contains("docker login"), "no hint: {reason}");

    // A wrong password: refused, and neither password shows anywhere.
    let wrong = "wrong~?>-password";
    docker_config(&configs.path().join("wrong"), &registry.host(), USER, wrong);
    let err = client
        .clone()
        .with_docker_config(DockerConfig::in_dir(configs.path().join("wrong")))
        .pull(&pushed.reference)
        .await
        .expect_err("a wrong password");
    assert!(matches!(err, DockerError::PullFailed { .. }), "{err:?}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{:?}", miette::Report::new(err)),
    ] {
        assert!(
            !shown.contains(wrong) && !shown.contains(PASSWORD),
            "{shown}"
        );
        assert!(shown.contains(&pushed.reference), "{shown}");
    }
    assert!(client
        .image_identity(&pushed.reference)
        .await
        .unwrap()
        .is_none());

    // The right one, as `docker login` writes it.
    let dir = configs.path().join("right");
    docker_config(&dir, &registry.host(), USER, PASSWORD);
    let logged_in = client
        .clone()
        .with_docker_config(DockerConfig::in_dir(&dir));
    let credentials = logged_in
        .docker_config()
        .credentials_for(&pushed.reference, None)
        .unwrap()
        .expect("credentials for the registry");
    assert!(!format!("{credentials:?}").contains(PASSWORD));
    logged_in
        .pull(&pushed.reference)
        .await
        .expect("pull with the credentials");
    let identity = client.image_identity(&pushed.reference).await.unwrap();
    assert!(
        identity.is_some_and(|i| i.repo_digests.contains(&pushed.by_digest())),
        "the pulled image has the pushed digest"
    );
    remove(&client, &pushed.reference).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn a_credential_helper_for_the_registry_is_a_clear_error() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let registry = Registry::start_with_login(USER, PASSWORD);
    let reference = registry.reference("engine-test/private:1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::json!({ "credHelpers": { registry.host(): "secretservice" } }).to_string(),
    )
    .unwrap();
    let err = client
        .with_docker_config(DockerConfig::in_dir(dir.path()))
        .pull(&reference)
        .await
        .expect_err("helpers are not supported");
    assert!(matches!(err, DockerError::Credentials { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        reference.as_str(),
        &registry.host(),
        "secretservice",
        "docker login",
        "DOCKER_CONFIG",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}
