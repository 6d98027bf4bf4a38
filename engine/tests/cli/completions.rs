//! `engine completions SHELL` and `engine man`, generated from the parser's own definitions.

use crate::common::{engine, repo_root, stderr, stdout};

#[test]
fn the_bash_completion_loads_and_completes_subcommands_and_options() {
    let out = engine(&repo_root(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("engine.bash");
    std::fs::write(&script, out.stdout).unwrap();
    // Loaded into bash, asked to complete `engine r` and `engine run --ma`.
    let probe = format!(
        "source {}; COMP_WORDS=(engine r); COMP_CWORD=1; _engine engine r engine; echo \"${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(engine run --ma); COMP_CWORD=2; _engine engine --ma run; echo \"${{COMPREPLY[*]}}\"",
        script.display()
    );
    let done = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .unwrap();
    let said = stdout(&done);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "{said}{}", stderr(&done));
    assert!(lines[0].split(' ').any(|w| w == "run"), "{said}");
    assert!(lines[1].split(' ').any(|w| w == "--matrix"), "{said}");
}

#[test]
fn zsh_fish_completions_and_the_man_page_name_every_subcommand() {
    let zsh = stdout(&engine(&repo_root(), &["completions", "zsh"]));
    let fish = stdout(&engine(&repo_root(), &["completions", "fish"]));
    let man = engine(&repo_root(), &["man"]);
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let man = stdout(&man);
    assert!(
        man.starts_with(".ie") || man.contains(".TH engine 1"),
        "{man}"
    );
    for sub in [
        "validate", "graph", "list", "run", "build", "clean", "shell", "doctor",
    ] {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh lacks {sub}");
        assert!(fish.contains(&format!("-a \"{sub}\"")), "fish lacks {sub}");
        assert!(man.contains(&format!("engine\\-{sub}")), "man lacks {sub}");
    }
    let bad = engine(&repo_root(), &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
