//! Apache Beam's YAML examples (aggregation and elementwise), unchanged, run
//! with `beam-yaml` on every runner; what `LogForTesting` prints, or the CSV
//! written, must be the `# Expected:` rows at the end of each file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yaml_examples")
}

/// The `#  Row(...)` lines after `# Expected:`.
fn expected(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("# Expected:"))
        .skip(1)
        .filter_map(|l| l.strip_prefix("#").map(|r| r.trim().to_string()))
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

fn run(file: &Path, runner: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_beam-yaml"))
        .args([
            "run",
            "--pipeline",
            file.to_str().unwrap(),
            "--runner",
            runner,
        ])
        .args(["--parallelism", "2"])
        .output()
        .unwrap()
}

fn printed_rows(out: &std::process::Output) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Row("))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

const LOGGED: &[&str] = &[
    "combine_count_minimal.yaml",
    "combine_max_minimal.yaml",
    "combine_mean_minimal.yaml",
    "combine_min_minimal.yaml",
    "combine_multiple_aggregations.yaml",
    "combine_sum.yaml",
    "combine_sum_minimal.yaml",
    "combine_sum_windowed.yaml",
    "explode.yaml",
    "group_into_batches.yaml",
    "top_largest_per_key.yaml",
    "top_smallest_per_key.yaml",
];

#[test]
fn logged_examples_print_their_expected_rows() {
    let mut failures = Vec::new();
    for name in LOGGED {
        let file = examples_dir().join(name);
        let want = expected(&std::fs::read_to_string(&file).unwrap());
        assert!(!want.is_empty(), "{name} has no expected rows");
        for runner in ["direct", "rayon", "timely"] {
            let out = run(&file, runner);
            let got = printed_rows(&out);
            if !out.status.success() || got != want {
                failures.push(format!(
                    "{name} on {runner}: exit {:?}\n  got {got:?}\n  want {want:?}\n  stderr {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The rows Beam's test harness gives the example that reads `products.csv`.
const PRODUCTS_CSV: &str = "transaction_id,product_name,category,price
T0012,Headphones,Electronics,59.99
T5034,Leather Jacket,Apparel,109.99
T0024,Aluminum Mug,Kitchen,29.99
T0104,Headphones,Electronics,59.99
T0302,Monitor,Electronics,249.99
";

/// `Row(a='x', n=2, v=1.5)` as the CSV line `x,2,1.5`.
fn as_csv(row: &str) -> String {
    row.trim_start_matches("Row(")
        .trim_end_matches(')')
        .split(", ")
        .map(|field| {
            let value = field.split_once('=').unwrap().1;
            value.trim_matches('\'').to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_csv_example_writes_its_expected_rows() {
    let text =
        std::fs::read_to_string(examples_dir().join("simple_filter_and_combine.yaml")).unwrap();
    let want: Vec<String> = expected(&text).iter().map(|r| as_csv(r)).collect();
    for runner in ["direct", "rayon", "timely"] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("products.csv");
        std::fs::write(&input, PRODUCTS_CSV).unwrap();
        let prefix = dir.path().join("output");
        // As Beam's harness does, the file's paths are pointed at local files.
        let local = text
            .replace(
                "gs://apache-beam-samples/beam-yaml-blog/products.csv",
                input.to_str().unwrap(),
            )
            .replace("path: output", &format!("path: {}", prefix.display()));
        let file = dir.path().join("pipeline.yaml");
        std::fs::write(&file, local).unwrap();
        let out = run(&file, runner);
        assert!(
            out.status.success(),
            "{runner}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = Vec::new();
        let mut headers = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("output") && name.ends_with(".csv") {
                let content = std::fs::read_to_string(&path).unwrap();
                let mut it = content.lines();
                headers.extend(it.next().map(str::to_string));
                lines.extend(it.map(str::to_string));
            }
        }
        lines.sort();
        assert_eq!(lines, want, "{runner}");
        assert!(
            headers
                .iter()
                .all(|h| h == "product_name,num_sold,total_revenue"),
            "{headers:?}"
        );
    }
}

#[test]
fn python_callables_are_refused_naming_the_transform() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("callable.yaml");
    std::fs::write(
        &file,
        "pipeline:
  type: chain
  transforms:
    - type: Create
      config:
        elements: [{plant: 'a, b, c'}]
    - type: MapToFields
      name: Parse plants
      config:
        language: python
        fields:
          plant:
            callable: |
              def f(row):
                return row.plant
",
    )
    .unwrap();
    let out = run(&file, "direct");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("Parse plants") && err.contains("callables are not supported"),
        "{err}"
    );
    std::fs::write(
        &file,
        "pipeline:
  transforms:
    - type: Create
      config:
        elements: [{n: 1}]
    - type: Filter
      name: Odd
      input: Create
      config:
        language: javascript
        keep: 'n % 2 == 1'
",
    )
    .unwrap();
    let out = run(&file, "direct");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Odd") && err.contains("javascript"), "{err}");
    // A Python combine class other than the built-in TopCombineFn.
    std::fs::write(
        &file,
        "pipeline:
  type: chain
  transforms:
    - type: Create
      config:
        elements: [{produce: a, amount: 3}]
    - type: Combine
      name: Biggest
      config:
        language: python
        group_by: produce
        combine:
          biggest:
            value: amount
            fn:
              type: 'my_module.MedianCombineFn'
",
    )
    .unwrap();
    let out = run(&file, "direct");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Biggest") && err.contains("MedianCombineFn") && err.contains("Python class"),
        "{err}"
    );
}

/// Runs `file` on every runner and compares the rows it logs (with their
/// prefixes, in any order) with `want`, which is sorted.
fn assert_logs_on_every_runner(file: &Path, want: &[&str]) {
    for runner in ["direct", "rayon", "timely"] {
        let out = run(file, runner);
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("Row("))
            .map(str::to_string)
            .collect();
        got.sort();
        assert_eq!(
            got,
            want,
            "{runner}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A pipeline of this project's own: a composite with named inputs and
/// output, Partition, Flatten, a left Join, Sql, AssignTimestamps and a
/// windowed Combine.
#[test]
fn wiring_joins_and_windows() {
    let file = examples_dir().join("orders_by_city.yaml");
    let mut want = vec![
        "city: Row(city='Oslo', size='big', n=1, total=1500)",
        "city: Row(city='Oslo', size='small', n=1, total=30)",
        "city: Row(city='Rome', size='big', n=1, total=700)",
        "city: Row(city=None, size='small', n=1, total=80)",
        "minute: Row(customer='bob', total=700, window_start=0.0)",
        "minute: Row(customer='ann', total=30, window_start=0.0)",
        "minute: Row(customer='cid', total=80, window_start=60.0)",
        "minute: Row(customer='ann', total=1500, window_start=60.0)",
    ];
    want.sort();
    assert_logs_on_every_runner(&file, &want);
}

/// Partition computes `by` into a column of its own: an input column of
/// the same name is kept as it is, and every row goes to one output.
#[test]
fn partition_keeps_a_column_named_like_its_own() {
    let file = examples_dir().join("partition_names.yaml");
    let mut want = vec![
        "a: Row(partition_by=1, kind='a')",
        "b: Row(partition_by=2, kind='b')",
        "other: Row(partition_by=3, kind='c')",
        "other: Row(partition_by=4, kind=None)",
    ];
    want.sort();
    assert_logs_on_every_runner(&file, &want);
}

/// The README's YAML form of the sales summary prints what the SQL form does.
#[test]
fn the_sales_summary_in_yaml_matches_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sql = Command::new(env!("CARGO_BIN_EXE_sales_relational"))
        .args(["--form", "sql", "--runner", "direct"])
        .output()
        .unwrap();
    let want: Vec<String> = String::from_utf8_lossy(&sql.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let average: f64 = f[2].parse().unwrap();
            format!(
                "Row(product_category='{}', total=Decimal('{}'), average={}, count={})",
                f[0], f[1], average, f[3]
            )
        })
        .collect();
    assert_eq!(want.len(), 7, "{want:?}");
    for runner in ["direct", "rayon", "timely"] {
        let out = Command::new(env!("CARGO_BIN_EXE_beam-yaml"))
            .current_dir(root)
            .args(["run", "--pipeline", "examples/pipelines/sales_summary.yaml"])
            .args(["--runner", runner])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let got: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("Row("))
            .map(str::to_string)
            .collect();
        let mut sorted_got = got.clone();
        let mut sorted_want = want.clone();
        sorted_got.sort();
        sorted_want.sort();
        assert_eq!(
            sorted_got,
            sorted_want,
            "{runner}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("bad record: "))
                .count(),
            2
        );
    }
}

#[test]
fn wiring_errors_name_the_transform() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wiring.yaml");
    std::fs::write(
        &file,
        "pipeline:
  transforms:
    - type: Create
      config: {elements: [{a: 1}]}
    - type: Filter
      name: Positive
      input: Nope
      config: {language: sql, keep: a > 0}
",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&run(&file, "direct").stderr).to_string();
    assert!(
        err.contains("the input of `Positive`") && err.contains("no transform is named `Nope`"),
        "{err}"
    );
    std::fs::write(
        &file,
        "pipeline:
  type: chain
  transforms:
    - type: Create
      config: {elements: [{a: 1}]}
    - type: Frobnicate
",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&run(&file, "direct").stderr).to_string();
    assert!(err.contains("no transform type `Frobnicate`"), "{err}");
}

#[test]
fn combine_any_all_and_group() {
    let file = examples_dir().join("any_and_all.yaml");
    for runner in ["direct", "rayon", "timely"] {
        let got = printed_rows(&run(&file, runner));
        assert_eq!(
            got,
            [
                "Row(k='a', some=True, every=False, oks=[False, True])",
                "Row(k='b', some=True, every=True, oks=[True])"
            ],
            "{runner}"
        );
    }
}
