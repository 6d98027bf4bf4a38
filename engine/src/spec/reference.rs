//! Image references as Docker reads them (`[host[:port]/]path[:tag][@sha256:hex]`), checked
//! before a run so that a typo is underlined in the distro file instead of failing a pull.

/// What is wrong with `reference`, or `None` when Docker would accept it.
pub fn problem(reference: &str) -> Option<String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        if let Some(p) = digest_problem(d) {
            return Some(p);
        }
    }
    // The tag is after the last ':' that comes after the last '/' (a port is before a '/').
    let name_start = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[name_start..].rfind(':') {
        Some(i) => (&rest[..name_start + i], Some(&rest[name_start + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Some(format!(
                "the tag `{t}` is not valid (letters, digits, `_`, `.`, `-`; up to 128, not starting with `.` or `-`)"
            ));
        }
    }
    if name.is_empty() {
        return Some("the image name is empty".into());
    }
    if name.len() > 255 {
        return Some("the image name is longer than 255 characters".into());
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && is_domain_like(components[0]) {
        let domain = components.remove(0);
        if let Some(p) = domain_problem(domain) {
            return Some(p);
        }
    }
    for c in components {
        if !valid_path_component(c) {
            return Some(format!(
                "`{c}` is not a valid name component (lowercase letters and digits, joined by `.`, `_`, `__` or dashes)"
            ));
        }
    }
    None
}

fn digest_problem(d: &str) -> Option<String> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Some(format!(
            "the digest `{d}` has no algorithm (`sha256:<64 hex digits>`)"
        ));
    };
    let hex_ok = hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    match algo {
        "sha256" if hex.len() == 64 && hex_ok => None,
        "sha512" if hex.len() == 128 && hex_ok => None,
        _ => Some(format!(
            "the digest `{d}` is not valid (`sha256:` and 64 lowercase hex digits)"
        )),
    }
}

fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// As Docker decides: a first component with a `.` or a `:`, or `localhost`, is a registry.
fn is_domain_like(c: &str) -> bool {
    c.contains('.')
        || c.contains(':')
        || c == "localhost"
        || c.chars().any(|c| c.is_ascii_uppercase())
}

fn domain_problem(domain: &str) -> Option<String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port {
        if p.is_empty()
            || !p.chars().all(|c| c.is_ascii_digit())
            || p.parse::<u32>().map_or(true, |n| n > 65535)
        {
            return Some(format!("the registry port `{p}` is not a port number"));
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Some(format!("the registry host `{host}` is not a host name"));
    }
    None
}

fn valid_path_component(c: &str) -> bool {
    // alnum+ (separator alnum+)*, separator = `.` | `_` | `__` | `-`+
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn references_docker_accepts() {
        let pin = format!("127.0.0.1:5000/lib/arch@sha256:{}", "0a".repeat(32));
        for r in [
            "archlinux:base-devel",
            "archlinux",
            "cachyos/cachyos:latest",
            "manjarolinux/base",
            "localhost:5000/team/arch:2026.12.01",
            "registry.example.invalid/a__b/c-d.e:v1_2",
            pin.as_str(),
            "arch:rolling@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(problem(r), None, "{r}");
        }
    }

    #[test]
    fn references_docker_refuses_say_what_is_wrong() {
        for (r, want) in [
            ("Arch Linux:latest", "not a valid name component"),
            ("ArchLinux", "not a valid name component"),
            ("arch:", "the tag `` is not valid"),
            ("arch:.hidden", "the tag `.hidden`"),
            ("arch@sha256:abc", "the digest `sha256:abc`"),
            ("arch@deadbeef", "has no algorithm"),
            ("host:99999/arch", "the registry port `99999`"),
            ("-bad.host:5000/arch", "the registry host `-bad.host`"),
            ("team//arch", "`` is not a valid name component"),
            ("", "the image name is empty"),
        ] {
            let p = problem(r).unwrap_or_else(|| panic!("{r:?} accepted"));
            assert!(p.contains(want), "{r:?}: {p}");
        }
    }
}
