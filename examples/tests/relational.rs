//! The relational forms of the sales summary print exactly what the typed
//! `sales_summary` prints, with the same dead letters, on every runner.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (String, Vec<String>) {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dead: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("dead letter"))
        .map(|l| l.split(" (").next().unwrap_or(l).to_string())
        .collect();
    dead.sort();
    (String::from_utf8(out.stdout).unwrap(), dead)
}

#[test]
fn dataframe_and_sql_forms_equal_the_typed_sales_summary() {
    let (want, want_dead) = run(env!("CARGO_BIN_EXE_sales_summary"), &["--runner", "direct"]);
    assert_eq!(want_dead.len(), 2, "{want_dead:?}");
    for form in ["dataframe", "sql"] {
        for runner in ["direct", "rayon", "timely"] {
            let got = run(
                env!("CARGO_BIN_EXE_sales_relational"),
                &["--form", form, "--runner", runner],
            );
            assert_eq!(got, (want.clone(), want_dead.clone()), "{form} on {runner}");
        }
    }
}
