//! Image builds: BuildKit where the daemon has it, the legacy builder otherwise.
//!
//! BuildKit is what `docker build` uses today, and what Dockerfiles written for it need
//! (`RUN --mount=type=cache`, heredocs, `COPY --link`). It is asked for through the build API
//! (`version=2`) with the context uploaded as a tar, as the legacy builder gets it; no gRPC
//! session is needed for that, so bollard's heavy `buildkit` feature is not compiled in and the
//! request goes through [`super::raw`]. `DOCKER_BUILDKIT` is read as the docker CLI reads it:
//! `0` forces the legacy builder, `1` requires BuildKit, unset means BuildKit with the legacy
//! builder as the fallback when the daemon refuses it (each build's log says which was used).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use super::buildkit::{decode_trace, Renderer};
use super::error::{is_connection_error, server_error};
use super::raw::{self, RawEndpoint, RawError};
use super::{labels, DockerClient, DockerError};
use crate::build_context::{dockerfile_in_context, tar_context};

/// How many lines of build output a [`DockerError::BuildFailed`] keeps.
pub const BUILD_TAIL_LINES: usize = 20;

/// What to build: a context folder, the Dockerfile in it, build args, the tag and labels.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub context_dir: PathBuf,
    /// Relative to `context_dir`.
    pub dockerfile: PathBuf,
    pub build_args: HashMap<String, String>,
    pub tag: String,
    /// Set on the image, together with `engine.managed=true`.
    pub labels: HashMap<String, String>,
    /// Build every step again, reusing no layer (`engine run --rebuild`).
    pub no_cache: bool,
}

/// The file in a run's folder that lists the step images its legacy builds made, one id a
/// line: a legacy build that is cancelled or fails leaves them as unnamed images (they carry
/// the base's labels, not the run's), and `engine clean` finds them there.
pub const LEGACY_STEPS_FILE: &str = "legacy-steps";

/// The image a legacy build's step made or reused, from its output line ` ---> 4f2b0c1d9e8a`.
pub fn legacy_step_image(line: &str) -> Option<&str> {
    let id = line.trim().strip_prefix("---> ")?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Which builder `DOCKER_BUILDKIT` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderChoice {
    /// Unset: BuildKit, falling back to the legacy builder when the daemon refuses it.
    Auto,
    /// `DOCKER_BUILDKIT=1`: BuildKit or an error.
    BuildKit,
    /// `DOCKER_BUILDKIT=0`: the legacy builder.
    Legacy,
}

impl BuilderChoice {
    /// Reads `DOCKER_BUILDKIT` with Go's boolean spellings, as the docker CLI does.
    pub fn from_env() -> Result<BuilderChoice, String> {
        Self::parse(std::env::var("DOCKER_BUILDKIT").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Result<BuilderChoice, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(BuilderChoice::Auto),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(BuilderChoice::BuildKit),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(BuilderChoice::Legacy),
            Some(other) => Err(format!(
                "DOCKER_BUILDKIT={other:?} is not a boolean (use 1 for BuildKit, 0 for the \
                 legacy builder, or leave it unset)"
            )),
        }
    }
}

/// Why BuildKit was not used for a build.
enum NoBuildKit {
    /// The daemon refused `version=2`.
    Refused(String),
    /// The endpoint is one only bollard can reach (TLS, ssh).
    Transport,
}

impl DockerClient {
    /// Whether this client's endpoint is one the engine asks for BuildKit over.
    pub fn buildkit_reachable(&self) -> bool {
        RawEndpoint::parse(self.endpoint()).is_some()
    }

    /// Builds an image with BuildKit or the legacy builder (see the module). Every line of
    /// build output goes to `on_line`, the first one naming the builder. A failed step, or a
    /// build that ends without the image existing, is [`DockerError::BuildFailed`] with the
    /// last lines of output. Returns the image id.
    ///
    /// On Podman, a build that fails for a reason that says nothing of its Dockerfile (see
    /// [`BuildahFlake`]) is built again, up to [`PODMAN_BUILD_ATTEMPTS`] times in all, and the
    /// log says why each time.
    pub async fn build_image(
        &self,
        request: &BuildRequest,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let mut attempt = 1;
        loop {
            let built = self.build_image_once(request, &mut on_line).await;
            let flake = match &built {
                Err(DockerError::BuildFailed { reason, .. }) if self.is_podman() => {
                    BuildahFlake::of(reason)
                }
                _ => None,
            };
            match flake {
                Some(flake) if attempt < PODMAN_BUILD_ATTEMPTS => {
                    attempt += 1;
                    on_line(&format!(
                        "[engine] {}: building again (attempt {attempt} of \
                         {PODMAN_BUILD_ATTEMPTS})",
                        flake.explain()
                    ));
                }
                _ => return built,
            }
        }
    }

    async fn build_image_once(
        &self,
        request: &BuildRequest,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let tag = request.tag.as_str();
        let failed = |reason: String| DockerError::BuildFailed {
            tag: tag.to_string(),
            reason,
            tail: Vec::new(),
        };
        let choice = self.builder_choice().map_err(failed)?;
        // Podman has one builder, Buildah, whatever the request's `version` says; it answers
        // the build API as the legacy builder does.
        let builder = if self.is_podman() {
            if choice == BuilderChoice::BuildKit {
                return Err(failed(
                    "DOCKER_BUILDKIT=1 requires BuildKit, and Podman builds with Buildah \
                     (unset DOCKER_BUILDKIT)"
                        .into(),
                ));
            }
            "Buildah (Podman's builder)"
        } else {
            "BuildKit"
        };
        let dockerfile = dockerfile_in_context(&request.dockerfile)?;
        let context_dir = request.context_dir.clone();
        let dockerfile_path = request.dockerfile.clone();
        // Reading and tarring the context is blocking file I/O.
        let context =
            tokio::task::spawn_blocking(move || tar_context(&context_dir, &dockerfile_path))
                .await
                .map_err(|e| failed(format!("packing the build context panicked: {e}")))??;

        let why_legacy = match choice {
            BuilderChoice::Legacy => "DOCKER_BUILDKIT=0".to_string(),
            BuilderChoice::Auto | BuilderChoice::BuildKit => {
                let refusal = match RawEndpoint::parse(self.endpoint()) {
                    Some(endpoint) => {
                        on_line(&format!("[engine] builder: {builder}"));
                        match self
                            .build_buildkit(&endpoint, request, &dockerfile, &context, &mut on_line)
                            .await
                        {
                            Ok(id) => return Ok(id),
                            Err(Ok(e)) => return Err(e),
                            Err(Err(refusal)) => refusal,
                        }
                    }
                    None => NoBuildKit::Transport,
                };
                let why = match refusal {
                    NoBuildKit::Refused(message) => {
                        format!("the daemon refused BuildKit: {message}")
                    }
                    NoBuildKit::Transport => format!(
                        "the engine asks for BuildKit over unix:// and tcp:// only, not {}",
                        self.endpoint()
                    ),
                };
                if choice == BuilderChoice::BuildKit {
                    return Err(failed(format!(
                        "{why} (DOCKER_BUILDKIT=1 requires BuildKit; unset it to fall back to \
                         the legacy builder)"
                    )));
                }
                why
            }
        };
        if self.is_podman() {
            on_line(&format!("[engine] builder: {builder} ({why_legacy})"));
        } else {
            on_line(&format!("[engine] builder: legacy ({why_legacy})"));
        }
        self.build_legacy(request, &dockerfile, context, &mut on_line)
            .await
    }

    /// A BuildKit build. `Err(Err(_))` when the daemon refuses BuildKit itself (the caller
    /// may fall back); `Err(Ok(_))` for every other failure.
    async fn build_buildkit(
        &self,
        endpoint: &RawEndpoint,
        request: &BuildRequest,
        dockerfile: &str,
        context: &[u8],
        on_line: &mut impl FnMut(&str),
    ) -> Result<String, Result<DockerError, NoBuildKit>> {
        let tag = request.tag.as_str();
        let json = |value: &HashMap<String, String>| {
            serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
        };
        let image_labels = json(&labels::with_managed(&request.labels));
        let build_args = json(&request.build_args);
        let query = raw::query(&[
            ("version", "2"),
            ("dockerfile", dockerfile),
            ("t", tag),
            ("rm", "true"),
            ("forcerm", "true"),
            ("nocache", if request.no_cache { "true" } else { "false" }),
            ("buildargs", &build_args),
            ("labels", &image_labels),
        ]);
        let path = format!("/v{}/build?{query}", self.api_version());
        let unreachable = |err: std::io::Error| DockerError::Unreachable {
            endpoint: self.endpoint().to_string(),
            source: BollardError::IOError { err },
        };
        let mut lines = match raw::post_json_lines(
            endpoint,
            &path,
            "application/x-tar",
            context.to_vec(),
        )
        .await
        {
            Ok(lines) => lines,
            Err(RawError::Refused { message, .. })
                if message.to_lowercase().contains("buildkit") =>
            {
                return Err(Err(NoBuildKit::Refused(message)))
            }
            Err(RawError::Refused { status, message }) => {
                return Err(Ok(DockerError::Api {
                    op: "image build",
                    target: tag.to_string(),
                    status: Some(status),
                    message,
                }))
            }
            Err(RawError::Connection(err)) => return Err(Ok(unreachable(err))),
            Err(RawError::Undecodable(message)) => {
                return Err(Ok(DockerError::BuildFailed {
                    tag: tag.to_string(),
                    reason: message,
                    tail: Vec::new(),
                }))
            }
        };

        let mut progress = BuildKitProgress::default();
        while let Some(item) = lines.next().await {
            match item {
                Ok(value) => progress.take(&value, on_line),
                Err(RawError::Connection(err)) => return Err(Ok(unreachable(err))),
                Err(RawError::Undecodable(message) | RawError::Refused { message, .. }) => {
                    progress.undecodable.get_or_insert(message);
                }
            }
        }
        let BuildKitProgress {
            mut output,
            failure,
            undecodable,
            ..
        } = progress;
        output.finish(on_line);
        self.built_image(tag, failure, undecodable, output)
            .await
            .map_err(Ok)
    }

    /// A build with the legacy builder, through bollard.
    async fn build_legacy(
        &self,
        request: &BuildRequest,
        dockerfile: &str,
        context: Vec<u8>,
        on_line: &mut impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let tag = request.tag.as_str();
        let image_labels = labels::with_managed(&request.labels);
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(tag)
            .rm(true)
            .nocache(request.no_cache)
            .forcerm(true)
            .buildargs(&request.build_args)
            .labels(&image_labels)
            .build();

        let mut output = BuildOutput::default();
        let mut failure: Option<String> = None;
        let mut undecodable: Option<String> = None;
        {
            let mut stream =
                self.api()
                    .build_image(options, None, Some(bollard::body_full(context.into())));
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                            output.push(text, on_line);
                        }
                    }
                    Err(BollardError::DockerStreamError { error }) => {
                        output.finish(on_line);
                        output.line(&error, on_line);
                        failure.get_or_insert(error);
                    }
                    Err(e) if is_connection_error(&e) => {
                        return Err(self.fail("image build", tag, e))
                    }
                    Err(e) => match server_error(&e) {
                        Some((_, message)) => {
                            output.line(message, on_line);
                            failure.get_or_insert(message.to_string());
                        }
                        // A decoding hiccup at the end of a stream (bollard #560) is harmless
                        // if the image exists; decided below.
                        None => undecodable = Some(e.to_string()),
                    },
                }
            }
        }
        output.finish(on_line);
        self.built_image(tag, failure, undecodable, output).await
    }

    /// The end of either build: the image's id, or why there is none.
    async fn built_image(
        &self,
        tag: &str,
        failure: Option<String>,
        undecodable: Option<String>,
        output: BuildOutput,
    ) -> Result<String, DockerError> {
        let build_failed = |reason: String, output: BuildOutput| DockerError::BuildFailed {
            tag: tag.to_string(),
            reason,
            tail: output.tail.into_iter().collect(),
        };
        if let Some(reason) = failure {
            return Err(build_failed(reason, output));
        }
        match self.api().inspect_image(tag).await {
            Ok(image) => image
                .id
                .ok_or_else(|| build_failed("the daemon returned no image id".into(), output)),
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => {
                let reason = undecodable.map_or_else(
                    || "the build ended without error but the image does not exist".to_string(),
                    |e| format!("the build output could not be read: {e}"),
                );
                Err(build_failed(reason, output))
            }
            Err(e) => Err(self.fail("image inspect", tag, e)),
        }
    }
}

/// How many times, in all, the engine builds an image on Podman when a build fails for a
/// [`BuildahFlake`].
pub const PODMAN_BUILD_ATTEMPTS: u32 = 3;

/// A Podman build that failed for a reason in Podman, not in its Dockerfile: building it again
/// is the cure. A failing `RUN` reads `building at STEP ...: exit status N`, and is never one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildahFlake {
    /// Buildah looked up a layer or image that another build (or a removal) had just changed,
    /// and says `layer not known` or `image not known`: the storage race of parallel builds
    /// (containers/buildah#5674, open in Podman 4 and 5).
    StorageRace,
    /// The process Buildah runs a `RUN` step's runtime in was killed from outside, which
    /// reads `while running runtime: signal: killed` (the step's own processes, when killed,
    /// give `exit status 137`). Podman before 4.6 (Buildah before 1.31) starts it with a
    /// parent-death signal tied to one thread of the service; when the Go runtime retires that
    /// thread, which other work of the service (container starts, say) makes it do, the step
    /// is killed (containers/podman#17918).
    RuntimeKilled,
}

impl BuildahFlake {
    /// The flake a build's failure `reason` is, if any.
    pub fn of(reason: &str) -> Option<BuildahFlake> {
        let reason = reason.trim_end();
        if reason.ends_with("while running runtime: signal: killed") {
            return Some(BuildahFlake::RuntimeKilled);
        }
        let race = !reason.contains("exit status")
            && [
                "layer not known",
                "image not known",
                "identifier is not an image",
            ]
            .iter()
            .any(|m| reason.contains(m));
        race.then_some(BuildahFlake::StorageRace)
    }

    /// A line for the node's log: what happened, and that it is Podman's doing.
    pub fn explain(self) -> &'static str {
        match self {
            BuildahFlake::StorageRace => {
                "Buildah lost a layer to a concurrent build, a known race of parallel builds \
                 in Podman's storage (containers/buildah#5674), not a fault of the Dockerfile"
            }
            BuildahFlake::RuntimeKilled => {
                "Buildah's runtime process for this RUN step was killed from outside the step; \
                 Podman before 4.6 does that when it retires one of its threads \
                 (containers/podman#17918), not a fault of the Dockerfile"
            }
        }
    }
}

/// What a BuildKit build said so far.
#[derive(Default)]
struct BuildKitProgress {
    output: BuildOutput,
    renderer: Renderer,
    failure: Option<String>,
    undecodable: Option<String>,
}

impl BuildKitProgress {
    /// One line of the build's answer: BuildKit's trace, plain text, or the build's error.
    fn take(&mut self, value: &serde_json::Value, on_line: &mut impl FnMut(&str)) {
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
        if let Some(serde_json::Value::String(aux)) = value.get("aux") {
            if text("id") == Some("moby.buildkit.trace") {
                match decode_trace(aux) {
                    Ok(status) => {
                        for line in self.renderer.lines(&status) {
                            self.output.line(&line, on_line);
                        }
                    }
                    Err(_) => {
                        self.undecodable
                            .get_or_insert_with(|| "a malformed BuildKit trace".into());
                    }
                }
            }
        }
        if let Some(stream) = text("stream").or_else(|| text("status")) {
            self.output.push(stream, on_line);
        }
        let error = value
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(serde_json::Value::as_str)
            .or_else(|| text("error"));
        if let Some(error) = error {
            self.output.line(error, on_line);
            self.failure.get_or_insert_with(|| error.to_string());
        }
    }
}

/// Splits build output into lines and keeps the last [`BUILD_TAIL_LINES`].
#[derive(Default)]
struct BuildOutput {
    partial: String,
    tail: VecDeque<String>,
}

impl BuildOutput {
    fn push(&mut self, text: &str, on_line: &mut impl FnMut(&str)) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.emit(line.trim_end_matches(['\n', '\r']), on_line);
        }
    }

    /// A whole line (any partial one before it is ended first).
    fn line(&mut self, line: &str, on_line: &mut impl FnMut(&str)) {
        self.finish(on_line);
        self.emit(line, on_line);
    }

    fn finish(&mut self, on_line: &mut impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(line.trim_end_matches('\r'), on_line);
        }
    }

    fn emit(&mut self, line: &str, on_line: &mut impl FnMut(&str)) {
        on_line(line);
        if self.tail.len() == BUILD_TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podmans_own_failures_are_told_from_a_failing_step() {
        for race in [
            "checking if cached image exists from a previous build: getting top layer info: layer not known",
            "committing container for step {Env:[PATH=/usr/bin] Command:run}: copying layers and metadata for container \"a8d0\": committing the finished image: creating image \"4177\": layer not known",
            "creating build container: image not known",
        ] {
            assert_eq!(BuildahFlake::of(race), Some(BuildahFlake::StorageRace), "{race}");
        }
        // As Podman 4.3 said it when its RUN was killed (the seed's CI, and this module's
        // Podman test, which kills the runtime process itself).
        for killed in [
            "building at STEP \"RUN bash /tmp/lookalike/lookalike.sh && rm -rf /tmp/lookalike\": while running runtime: signal: killed",
            "building at STEP \"RUN echo step-one && sleep 4 && echo done\": while running runtime: signal: killed\n",
        ] {
            assert_eq!(BuildahFlake::of(killed), Some(BuildahFlake::RuntimeKilled), "{killed}");
        }
        for step in [
            "building at STEP \"RUN bash /tmp/lookalike/lookalike.sh\": while running runtime: exit status 1",
            "building at STEP \"RUN kill -9 $$\": while running runtime: exit status 137",
            "The command '/bin/sh -c false' returned a non-zero code: 1",
            "building at STEP \"RUN echo image not known; false\": while running runtime: exit status 1",
            "building at STEP \"RUN echo while running runtime: signal: killed; false\": while running runtime: exit status 1",
        ] {
            assert_eq!(BuildahFlake::of(step), None, "{step}");
        }
    }

    #[test]
    fn docker_buildkit_is_read_as_the_docker_cli_reads_it() {
        assert_eq!(BuilderChoice::parse(None), Ok(BuilderChoice::Auto));
        assert_eq!(BuilderChoice::parse(Some("")), Ok(BuilderChoice::Auto));
        for yes in ["1", "true", "TRUE", "t"] {
            assert_eq!(BuilderChoice::parse(Some(yes)), Ok(BuilderChoice::BuildKit));
        }
        for no in ["0", "false", "F"] {
            assert_eq!(BuilderChoice::parse(Some(no)), Ok(BuilderChoice::Legacy));
        }
        let err = BuilderChoice::parse(Some("yes")).expect_err("not a Go boolean");
        assert!(err.contains("DOCKER_BUILDKIT=\"yes\""), "{err}");
    }

    #[test]
    fn legacy_step_images_are_read_from_the_output() {
        assert_eq!(
            legacy_step_image(" ---> 4f2b0c1d9e8a"),
            Some("4f2b0c1d9e8a")
        );
        assert_eq!(legacy_step_image(" ---> Running in 4f2b0c1d9e8a"), None);
        assert_eq!(legacy_step_image(" ---> Using cache"), None);
        assert_eq!(legacy_step_image("#5 ---> 4f2b0c1d9e8a0"), None);
    }

    #[test]
    fn build_output_keeps_lines_and_a_bounded_tail() {
        let mut out = BuildOutput::default();
        let mut seen = Vec::new();
        let mut sink = |l: &str| seen.push(l.to_string());
        out.push("Step 1/2 : FROM x\n ---> abc", &mut sink);
        out.push("\r\n", &mut sink);
        for i in 0..30 {
            out.push(&format!("line {i}\n"), &mut sink);
        }
        out.push("no newline", &mut sink);
        out.finish(&mut sink);
        assert_eq!(seen[0], "Step 1/2 : FROM x");
        assert_eq!(seen[1], " ---> abc");
        assert_eq!(seen.last().map(String::as_str), Some("no newline"));
        assert_eq!(out.tail.len(), BUILD_TAIL_LINES);
        assert_eq!(out.tail.back().map(String::as_str), Some("no newline"));
        assert_eq!(out.tail.front().map(String::as_str), Some("line 11"));
    }
}
