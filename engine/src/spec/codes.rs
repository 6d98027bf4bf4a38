//! Every diagnostic code the engine gives, in one place: they are a public contract (`engine
//! validate --format json`, the reports' diagnostics), listed by `engine validate --list-codes`.
//! A code is added here, never written as a string elsewhere (a test checks).

macro_rules! codes {
    ($($variant:ident => $text:literal, $what:literal;)*) => {
        /// A diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the order of the list below.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as users see it, e.g. `check::missing-file`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }

            /// What it means, in one line.
            pub fn what(self) -> &'static str {
                match self {
                    $(Code::$variant => $what,)*
                }
            }
        }
    };
}

codes! {
    LoadNotFound => "load::not-found", "the matrix file does not exist";
    LoadUnreadable => "load::unreadable", "a file of the matrix cannot be read";
    LoadNotUtf8 => "load::not-utf8", "a file is not valid UTF-8 (the first bad byte is underlined)";
    TomlSyntax => "toml::syntax", "a TOML file does not parse";
    YamlSyntax => "yaml::syntax", "a task.yaml file does not parse";
    NickelEval => "nickel::eval", "a matrix.ncl does not evaluate (a contract or a type failed)";
    NickelExport => "nickel::export", "a matrix.ncl evaluates to something that is not a matrix record";
    NickelUnavailable => "nickel::unavailable", "a matrix.ncl but no Nickel evaluator (built without the nickel feature and no `nickel` on PATH)";
    SchemaUnknownKey => "schema::unknown-key", "a key the format does not know (a warning in the seed's task.yaml)";
    SchemaMissingKey => "schema::missing-key", "a required key is missing";
    SchemaWrongType => "schema::wrong-type", "a value of the wrong type";
    SchemaBadValue => "schema::bad-value", "a value outside the allowed ones";
    SchemaOutOfRange => "schema::out-of-range", "a number outside its range";
    SchemaInvalid => "schema::invalid", "a file the schema accepts but that still does not fit the model";
    CheckMissingFile => "check::missing-file", "a file the matrix names does not exist";
    CheckMissingFolder => "check::missing-folder", "a folder the matrix names does not exist";
    CheckWorkspaceArchive => "check::workspace-archive", "the workspace archive cannot be read or unpacked, or is given with a `source` folder";
    CheckNoDistros => "check::no-distros", "the distros glob matches no file";
    CheckNoSuites => "check::no-suites", "a suites glob yields no suite";
    CheckSupportFolder => "check::support-folder", "a folder matched by suites holds no task file: support files (a note)";
    CheckAmbiguousSuite => "check::ambiguous-suite", "a suite folder holds both task.toml and task.yaml";
    CheckDuplicateSuite => "check::duplicate-suite", "two suite folders have one name";
    CheckDuplicateName => "check::duplicate-name", "a user, step or locale is listed twice";
    CheckDuplicateTarget => "check::duplicate-target", "two mounts on one container path";
    CheckBadName => "check::bad-name", "a distro or suite name that cannot be an image tag or node id";
    CheckBadUser => "check::bad-user", "a user name that useradd would refuse";
    CheckUnknownUser => "check::unknown-user", "a suite or step runs as a user provisioning does not create";
    CheckUnknownDistro => "check::unknown-distro", "a suite names a distro the matrix lacks (a warning in task.yaml)";
    CheckUnknownPlaceholder => "check::unknown-placeholder", "a cache source uses a placeholder other than {distro}";
    CheckUndeclaredLocale => "check::undeclared-locale", "a suite requires a locale none of its distros declares";
    CheckVariant => "check::variant", "a variant key, name or `variants` entry that is not well formed";
    CheckBadLocale => "check::bad-locale", "a locale without a charset";
    CheckBadDuration => "check::bad-duration", "a duration that does not parse (e.g. \"10m\")";
    CheckBadSize => "check::bad-size", "a byte size that does not parse (e.g. \"2g\")";
    CheckBadCapability => "check::bad-capability", "a Linux capability name the kernel does not have";
    CheckBadEnvName => "check::bad-env-name", "an environment variable name that is not one";
    CheckZero => "check::zero", "a concurrency or a suite's samples of 0";
    CheckOutOfRange => "check::out-of-range", "a limit outside what Docker accepts";
    CheckRelativeTarget => "check::relative-target", "a container path that is not absolute";
    CheckCacheEscape => "check::cache-escape", "a cache source that leaves the cache root";
    CheckHostPath => "check::host-path", "a host path outside the project that allow_host_paths does not list";
    CheckDockerSocket => "check::docker-socket", "a mount that is or holds the Docker socket";
    CheckReserved => "check::reserved", "a build argument the engine sets itself";
    CheckBase => "check::base", "a distro with no base, or with two";
    CheckImageReference => "check::image-reference", "a base_image that is not an image reference Docker accepts";
    CheckAurIncomplete => "check::aur-incomplete", "an AUR policy that builds a helper without package or source";
    CheckSharedPacmanCache => "check::shared-pacman-cache", "pacman's package cache is mounted writable into containers that run at the same time (a warning)";
    CheckAurBuildUncached => "check::aur-build-uncached", "the AUR build folder is on no provisioning cache mount (a warning)";
    CheckSpreadList => "check::spread-list", "a spread `systems`/`backends` list that mixes plain and +/- entries, or a bad pattern";
    CheckEmptyExecute => "check::empty-execute", "a suite with nothing to execute";
    LintShellcheck => "lint::shellcheck", "a finding of shellcheck in a suite's or a provision step's script (`validate --lint`)";
    InfraBaseMissing => "infra::base-missing", "a base image is absent and pull = \"never\"";
    InfraBaseUnavailable => "infra::base-unavailable", "a base image can be neither found nor pulled";
    InfraRootfsScript => "infra::rootfs-script", "a base_rootfs script failed";
    InfraImageBuild => "infra::image-build", "a distro's image build failed";
    InfraLocaleMissing => "infra::locale-missing", "a required locale is missing from the image";
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        c.as_str().to_string()
    }
}

impl PartialEq<Code> for String {
    fn eq(&self, c: &Code) -> bool {
        self == c.as_str()
    }
}

/// The table `engine validate --list-codes` prints.
pub fn table() -> String {
    let width = Code::ALL
        .iter()
        .map(|c| c.as_str().len())
        .max()
        .unwrap_or(0);
    Code::ALL
        .iter()
        .map(|c| format!("{:<width$}  {}\n", c.as_str(), c.what()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            let (ns, name) = c.as_str().split_once("::").unwrap();
            assert!(
                ["load", "toml", "yaml", "nickel", "schema", "check", "lint", "infra"]
                    .contains(&ns)
            );
            let ok = |x: char| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '-';
            assert!(name.chars().all(ok), "{name}");
        }
    }

    /// No code is written as a string outside this file: each comes from [`Code`].
    #[test]
    fn no_code_is_a_string_literal_elsewhere() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("codes.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for c in Code::ALL {
                        if text.contains(&format!("\"{}\"", c.as_str())) {
                            found.push(format!("{}: {}", p.display(), c.as_str()));
                        }
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "use Code:: instead:\n{}",
            found.join("\n")
        );
    }
}
