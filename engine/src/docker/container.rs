//! Containers: create, start, wait, logs, kill, stop, remove, and label-based cleanup.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, EventsOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use super::error::server_error;
use super::{labels, DockerClient, DockerError};

/// A host path mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Absolute, on the daemon's host (the same machine for a local socket).
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// `None` lets Docker pick a name.
    pub name: Option<String>,
    pub image: String,
    /// Empty: the image's CMD.
    pub cmd: Vec<String>,
    /// `None`: the image's ENTRYPOINT.
    pub entrypoint: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub binds: Vec<Bind>,
    /// Set on the container, together with `engine.managed=true`. Docker adds the image's
    /// labels underneath, so always set `engine.run`/`engine.node` here: otherwise the
    /// container inherits those of the run that made the image.
    pub labels: HashMap<String, String>,
    /// e.g. `none`, `bridge`, `host`; `None` is the daemon default.
    pub network_mode: Option<String>,
    /// Memory limit in bytes; swap is limited to the same value (no extra swap).
    pub memory_bytes: Option<i64>,
    /// CPU limit in CPUs (e.g. 1.5).
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// Run Docker's init (tini) as PID 1, which reaps zombies and forwards signals.
    pub init: bool,
    /// A TTY merges stdout and stderr into one stream (all lines arrive as stdout).
    pub tty: bool,
    /// Full privileges (all capabilities and devices). Never the default.
    pub privileged: bool,
    /// Capabilities added to Docker's default set.
    pub cap_add: Vec<String>,
    /// Writable-layer size limit in bytes (the daemon's `size` storage option).
    pub storage_bytes: Option<i64>,
    /// tmpfs mounts: mount point -> size in bytes.
    pub tmpfs: BTreeMap<String, i64>,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub exit_code: i64,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of container output, without its line ending (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub line: String,
}

/// One container as listed by the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/`.
    pub names: Vec<String>,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// e.g. `running`, `exited`, `created`.
    pub state: String,
}

impl ContainerSpec {
    pub(crate) fn to_body(&self) -> ContainerCreateBody {
        let mounts = self
            .binds
            .iter()
            .map(|bind| Mount {
                typ: Some(MountType::BIND),
                source: Some(bind.host.to_string_lossy().into_owned()),
                target: Some(bind.container.clone()),
                read_only: Some(bind.read_only),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        let host_config = HostConfig {
            mounts: (!mounts.is_empty()).then_some(mounts),
            network_mode: self.network_mode.clone(),
            memory: self.memory_bytes,
            memory_swap: self.memory_bytes,
            nano_cpus: self.cpus.map(|cpus| (cpus * 1e9).round() as i64),
            pids_limit: self.pids_limit,
            init: self.init.then_some(true),
            privileged: Some(self.privileged),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            storage_opt: self
                .storage_bytes
                .map(|b| HashMap::from([("size".to_string(), b.to_string())])),
            tmpfs: (!self.tmpfs.is_empty()).then(|| {
                self.tmpfs
                    .iter()
                    .map(|(p, b)| (p.clone(), format!("size={b}")))
                    .collect()
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: (!self.cmd.is_empty()).then(|| self.cmd.clone()),
            entrypoint: self.entrypoint.clone(),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            labels: Some(labels::with_managed(&self.labels)),
            tty: Some(self.tty),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(host_config),
            ..Default::default()
        }
    }
}

fn is_status(e: &bollard::errors::Error, status: u16) -> bool {
    server_error(e).is_some_and(|(s, _)| s == status)
}

impl DockerClient {
    /// Creates (does not start) a container; returns its id.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let mut options = CreateContainerOptionsBuilder::default();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        let target = spec.name.as_deref().unwrap_or(&spec.image);
        match self
            .api()
            .create_container(Some(options.build()), spec.to_body())
            .await
        {
            Ok(response) => Ok(response.id),
            Err(e) if is_status(&e, 404) => Err(DockerError::ImageNotFound {
                reference: spec.image.clone(),
            }),
            Err(e) => Err(self.fail("container create", target, e)),
        }
    }

    pub async fn start(&self, container: &str) -> Result<(), DockerError> {
        self.api()
            .start_container(container, None)
            .await
            .map_err(|e| self.not_found_or(e, "container start", container))
    }

    /// Waits until the container is not running, then reads its exit code and OOM flag.
    /// Call it after [`DockerClient::start`]: a created container counts as not running.
    pub async fn wait(&self, container: &str) -> Result<ExitInfo, DockerError> {
        let mut waiting = self.api().wait_container(container, None);
        // bollard reports a non-zero exit as an error carrying the code.
        let waited_code = match waiting.next().await {
            Some(Ok(response)) => Some(response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
            Some(Err(e)) => return Err(self.not_found_or(e, "container wait", container)),
            None => None,
        };
        match self.api().inspect_container(container, None).await {
            Ok(inspect) => {
                let state = inspect.state.unwrap_or_default();
                let exit_code =
                    waited_code
                        .or(state.exit_code)
                        .ok_or_else(|| DockerError::Api {
                            op: "container wait",
                            target: container.to_string(),
                            status: None,
                            message: "the daemon reported no exit code".into(),
                        })?;
                Ok(ExitInfo {
                    exit_code,
                    oom_killed: state.oom_killed.unwrap_or(false),
                })
            }
            // Removed right after it exited (by someone else): the wait result is all we have.
            Err(e) if is_status(&e, 404) && waited_code.is_some() => Ok(ExitInfo {
                exit_code: waited_code.unwrap_or_default(),
                oom_killed: false,
            }),
            Err(e) => Err(self.not_found_or(e, "container inspect", container)),
        }
    }

    /// Whether the daemon logged an `oom` event for the container since `since`, waiting up
    /// to `grace` for one that comes late.
    ///
    /// Docker's OOM flag in inspect is set from the same kernel notification, but on cgroup v1
    /// under load the exit can be processed first and the flag stays false, while the event
    /// is still logged. Best effort: an error reading events counts as no event.
    pub async fn oom_event_since(
        &self,
        container: &str,
        since: std::time::SystemTime,
        grace: Duration,
    ) -> bool {
        // `seconds.nanoseconds`, as the daemon takes it: whole seconds would cut off an
        // event of the last second.
        let unix = |t: std::time::SystemTime| {
            let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
        };
        // `until` in the future makes the daemon stream live events until then: the grace.
        // A second early: the daemon's clock, not ours, stamps the event.
        let since = unix(since.checked_sub(Duration::from_secs(1)).unwrap_or(since));
        let until = unix(std::time::SystemTime::now() + grace);
        let filters = HashMap::from([
            ("container".to_string(), vec![container.to_string()]),
            ("event".to_string(), vec!["oom".to_string()]),
        ]);
        let options = EventsOptionsBuilder::default()
            .since(&since)
            .until(&until)
            .filters(&filters)
            .build();
        let mut events = self.api().events(Some(options));
        // The stream ends at `until`; the timeout guards a daemon that ignores it.
        let found = tokio::time::timeout(grace + Duration::from_secs(2), async {
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) if event.action.as_deref() == Some("oom") => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            false
        });
        found.await.unwrap_or(false)
    }

    /// The container's output as lines tagged stdout/stderr, from the beginning. With `follow`
    /// the stream goes on until the container stops.
    ///
    /// Needs a log driver that can be read back (json-file, local, journald). On Docker 20.10
    /// a follow stream can miss a final line without newline that arrives as the container
    /// exits; [`DockerClient::attach_output`] does not have that race.
    pub fn logs(
        &self,
        container: &str,
        follow: bool,
    ) -> impl Stream<Item = Result<LogLine, DockerError>> + Send + 'static {
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .build();
        let raw = self.api().logs(container, Some(options)).boxed();
        self.lines(raw, "container logs", container)
    }

    /// The live output of a container as lines, from the moment of the call until its output
    /// closes. Call it before [`DockerClient::start`] to get every line.
    pub async fn attach_output(
        &self,
        container: &str,
    ) -> Result<impl Stream<Item = Result<LogLine, DockerError>> + Send + 'static, DockerError>
    {
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .api()
            .attach_container(container, Some(options))
            .await
            .map_err(|e| self.not_found_or(e, "container attach", container))?;
        Ok(self.lines(attached.output, "container attach", container))
    }

    fn lines(
        &self,
        raw: BoxStream<'static, Result<LogOutput, bollard::errors::Error>>,
        op: &'static str,
        container: &str,
    ) -> impl Stream<Item = Result<LogLine, DockerError>> + Send + 'static {
        let client = self.clone();
        let container = container.to_string();
        let state = (raw, LineSplitter::default(), false);
        futures_util::stream::unfold(state, move |(mut raw, mut lines, mut ended)| {
            let client = client.clone();
            let container = container.clone();
            async move {
                loop {
                    if let Some(line) = lines.ready.pop_front() {
                        return Some((Ok(line), (raw, lines, ended)));
                    }
                    if ended {
                        return None;
                    }
                    match raw.next().await {
                        Some(Ok(output)) => lines.push(output),
                        Some(Err(e)) => {
                            let err = client.not_found_or(e, op, &container);
                            return Some((Err(err), (raw, lines, true)));
                        }
                        None => {
                            lines.finish();
                            ended = true;
                        }
                    }
                }
            }
        })
    }

    /// Sends SIGKILL (or `signal`). `Ok(false)` when the container was not running.
    pub async fn kill(&self, container: &str, signal: Option<&str>) -> Result<bool, DockerError> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal.unwrap_or("SIGKILL"))
            .build();
        match self.api().kill_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_status(&e, 409) => Ok(false),
            Err(e) => Err(self.not_found_or(e, "container kill", container)),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Stopping a stopped container is fine.
    pub async fn stop(&self, container: &str, grace: Duration) -> Result<(), DockerError> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.api().stop_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 304) => Ok(()),
            Err(e) => Err(self.not_found_or(e, "container stop", container)),
        }
    }

    /// Removes a container (with `force`, also a running one) and its anonymous volumes.
    /// `Ok(false)` when it did not exist.
    pub async fn remove(&self, container: &str, force: bool) -> Result<bool, DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(force)
            .v(true)
            .build();
        match self.api().remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            // Someone else is removing it at the same moment: it will be gone.
            Err(e)
                if is_status(&e, 409)
                    && server_error(&e).is_some_and(|(_, m)| m.contains("already in progress")) =>
            {
                Ok(true)
            }
            Err(e) => Err(self.fail("container remove", container, e)),
        }
    }

    /// Containers (running or not) carrying all of `labels`; all containers when empty.
    pub async fn list_containers(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        let mut options = ListContainersOptionsBuilder::default().all(true);
        if !labels.is_empty() {
            options = options.filters(&labels::filter(labels, self.is_podman()));
        }
        let containers = self
            .api()
            .list_containers(Some(options.build()))
            .await
            .map_err(|e| self.fail("container list", "containers", e))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                Some(ContainerInfo {
                    id: c.id?,
                    names: c
                        .names
                        .unwrap_or_default()
                        .into_iter()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .collect(),
                    image: c.image.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .filter(|c| labels::has_all(&c.labels, labels))
            .collect())
    }

    /// Force-removes every container carrying all of `labels` and `engine.managed=true`
    /// (so it never touches a container the engine did not make). Tries every container even
    /// when one fails, then reports the first failure. Returns how many were removed.
    pub async fn remove_by_labels(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<usize, DockerError> {
        let filter = labels::with_managed(labels);
        let mut removed = 0;
        let mut first_error = None;
        // Keep going past a failure: cleanup should remove as much as it can.
        for container in self.list_containers(&filter).await? {
            match self.remove(&container.id, true).await {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(removed),
            Some(e) => Err(e),
        }
    }

    fn not_found_or(
        &self,
        e: bollard::errors::Error,
        op: &'static str,
        container: &str,
    ) -> DockerError {
        if is_status(&e, 404) {
            DockerError::ContainerNotFound {
                container: container.to_string(),
            }
        } else {
            self.fail(op, container, e)
        }
    }
}

/// The longest line passed on whole; a longer one comes in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Reassembles lines from log chunks, separately per stream (a chunk may end mid-line).
#[derive(Default)]
struct LineSplitter {
    partial: HashMap<LogStream, Vec<u8>>,
    ready: VecDeque<LogLine>,
}

impl LineSplitter {
    fn push(&mut self, output: LogOutput) {
        let (stream, bytes) = match output {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (LogStream::Stdout, message)
            }
            LogOutput::StdErr { message } => (LogStream::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        let buffer = self.partial.entry(stream).or_default();
        buffer.extend_from_slice(&bytes);
        // Every complete line, then one drain: linear in the frame, however many lines it holds.
        let mut start = 0;
        while let Some(n) = buffer[start..].iter().position(|b| *b == b'\n') {
            self.ready
                .push_back(to_line(stream, &buffer[start..=start + n]));
            start += n + 1;
        }
        // A line that never ends is passed on in pieces: memory stays bounded.
        while buffer.len() - start >= MAX_LINE {
            self.ready
                .push_back(to_line(stream, &buffer[start..start + MAX_LINE]));
            start += MAX_LINE;
        }
        buffer.drain(..start);
    }

    fn finish(&mut self) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            if let Some(rest) = self.partial.remove(&stream) {
                if !rest.is_empty() {
                    self.ready.push_back(to_line(stream, &rest));
                }
            }
        }
    }
}

fn to_line(stream: LogStream, bytes: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(bytes);
    LogLine {
        stream,
        line: text.trim_end_matches(['\n', '\r']).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_joins_chunks_per_stream() {
        let mut s = LineSplitter::default();
        s.push(LogOutput::StdOut {
            message: "hel".into(),
        });
        s.push(LogOutput::StdErr {
            message: "oops\n".into(),
        });
        s.push(LogOutput::StdOut {
            message: "lo\r\nwor".into(),
        });
        s.push(LogOutput::StdOut {
            message: vec![b'l', 0xff, b'd'].into(),
        });
        s.finish();
        let got: Vec<(LogStream, String)> =
            s.ready.into_iter().map(|l| (l.stream, l.line)).collect();
        assert_eq!(
            got,
            [
                (LogStream::Stderr, "oops".to_string()),
                (LogStream::Stdout, "hello".to_string()),
                (LogStream::Stdout, "worl\u{fffd}d".to_string()),
            ]
        );
    }

    #[test]
    fn a_line_without_end_comes_in_bounded_pieces_and_nothing_is_lost() {
        let mut s = LineSplitter::default();
        let long = vec![b'x'; MAX_LINE * 3 + 10];
        for chunk in long.chunks(1000) {
            s.push(LogOutput::StdOut {
                message: chunk.to_vec().into(),
            });
            assert!(s.partial[&LogStream::Stdout].len() < MAX_LINE);
        }
        s.push(LogOutput::StdOut {
            message: "\nlast\n".into(),
        });
        s.finish();
        let lens: Vec<usize> = s.ready.iter().map(|l| l.line.len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, MAX_LINE, 10, 4]);
    }

    #[test]
    fn many_lines_in_one_frame_split_in_linear_time() {
        let mut s = LineSplitter::default();
        let frame: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let t = std::time::Instant::now();
        s.push(LogOutput::StdOut {
            message: frame.into(),
        });
        assert_eq!(s.ready.len(), 200_000);
        assert_eq!(s.ready.back().unwrap().line, "199999");
        // Draining each line from the front shifted the rest each time: quadratic in the frame.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn spec_maps_limits_binds_and_labels() {
        let spec = ContainerSpec {
            image: "img".into(),
            binds: vec![Bind {
                host: "/h".into(),
                container: "/c".into(),
                read_only: true,
            }],
            memory_bytes: Some(64 << 20),
            cpus: Some(1.5),
            init: true,
            labels: labels::for_node("r1", "n1"),
            env: BTreeMap::from([("B".into(), "2".into()), ("A".into(), "1".into())]),
            ..Default::default()
        };
        let body = spec.to_body();
        let host = body.host_config.expect("host config");
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.init, Some(true));
        let mount = &host.mounts.expect("mounts")[0];
        assert_eq!(mount.read_only, Some(true));
        assert_eq!(mount.typ, Some(MountType::BIND));
        let labels = body.labels.expect("labels");
        assert_eq!(
            labels.get(labels::MANAGED).map(String::as_str),
            Some("true")
        );
        assert_eq!(labels.get(labels::RUN).map(String::as_str), Some("r1"));
        assert_eq!(body.env, Some(vec!["A=1".to_string(), "B=2".to_string()]));
        assert_eq!(body.cmd, None);
    }
}
