//! Test cases: discovered under `cases/`, parsed from YAML ([`format`]) and validated against
//! the spec and the catalogue before anything is sent. A file that does not load becomes a
//! failing test of its own, named by its path, and the other cases still run.

pub(crate) mod derive;
mod error;
pub(crate) mod format;
mod validator;

use crate::place::Place;
use crate::selector::Selector;
use crate::spec::{Level, Spec};
use crate::template::{self, Vars};
use crate::yaml::At;
use error::{LoadError, Problem};
use format::{CaseFile, JsonType, MatcherFile, StepFile};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub(crate) use validator::attribute_set_up;
use validator::Validator;

/// One test: a case file, or one row of a parameterised case file.
/// A case's steps, shared by the rows of a parameterised file: a row differs only by its values.
pub type Steps = Arc<[Step]>;

#[derive(Debug, Clone)]
pub struct Case {
    /// The test name: the file's path under `cases/` without `.yaml`, plus `/<row>`.
    pub id: String,
    /// The file as the user would open it (`cases/conversations/update/x.yaml`).
    pub file: String,
    pub requirement: String,
    pub level: Level,
    pub title: Option<String>,
    /// The row's values (parameterised cases); captures are added as the case runs.
    pub vars: Vars,
    pub steps: Steps,
    pub cleanup: Steps,
    pub ignored: Option<String>,
    /// Derived cases this case stands for (`derived/...` ids), each with where it is named.
    pub covers: Vec<(String, At)>,
}

#[derive(Debug, Clone)]
pub struct Step {
    /// `step 2 (update)`: how messages name the step.
    pub label: String,
    /// Where the step is written: `file:line:col`, or the spec's place for a built step.
    pub at: Place,
    pub requirement: String,
    pub level: Level,
    pub operation: Option<String>,
    pub method: String,
    /// Path template relative to the base URL: `{name}` takes a path parameter and `{{var}}`
    /// a variable.
    pub path: String,
    pub path_params: Vec<(String, Value)>,
    pub query: Vec<(String, Value)>,
    pub headers: Vec<(String, String)>,
    pub auth: bool,
    pub body: Body,
    pub content_type: Option<String>,
    pub expect: Expect,
    pub capture: Vec<(String, Selector)>,
    /// Extra redactions (selector, placeholder) when the step is snapshotted.
    pub snapshot: Option<Vec<(Selector, String)>>,
    pub observe: Option<Observe>,
    /// The answer is an event stream ([`crate::stream`]).
    pub stream: bool,
}

impl Step {
    /// A step that sends `method path` (authenticated, no parameters, headers or body) and
    /// expects `expect`, for `requirement`: what a generated step starts from.
    pub fn request(
        label: String,
        at: Place,
        (requirement, level): (String, Level),
        method: &str,
        path: &str,
        expect: Expect,
    ) -> Step {
        Step {
            label,
            at,
            requirement,
            level,
            operation: None,
            method: method.to_string(),
            path: path.to_string(),
            path_params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            auth: true,
            body: Body::None,
            content_type: None,
            expect,
            capture: Vec::new(),
            snapshot: None,
            observe: None,
            stream: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Raw(String),
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub status: Option<Vec<u16>>,
    pub headers: Vec<(String, Matcher)>,
    pub json: Vec<(Selector, Matcher)>,
    /// The rule a wrong status breaks, where the status and operation do not say it: the same
    /// in another case, on any operation, is the same root cause.
    pub cause: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub requirement: String,
    pub level: Level,
    pub equals: Option<Value>,
    pub one_of: Option<Vec<Value>>,
    pub types: Option<Vec<JsonType>>,
    // The rarer checks are boxed: a suite holds every matcher of every case at once.
    pub pattern: Option<Box<regex::Regex>>,
    pub absent: Option<bool>,
    pub length: Option<usize>,
    pub contains: Option<Box<Value>>,
    pub near_now: Option<u64>,
    pub vector_near: Option<Box<VectorNear>>,
    /// What makes its failure the same defect in another case, where its field and check do
    /// not say it (a probe of one parameter's default); `None`: they do.
    pub cause: Option<String>,
}

impl Matcher {
    /// A matcher that the value equals `value`, and nothing else.
    pub fn equals(requirement: String, level: Level, value: Value) -> Self {
        Matcher {
            requirement,
            level,
            equals: Some(value),
            one_of: None,
            types: None,
            pattern: None,
            absent: None,
            length: None,
            contains: None,
            near_now: None,
            vector_near: None,
            cause: None,
        }
    }
}

/// `{{model}}` and `{{embedding_model}}`: the target's models (`--model`,
/// `--embedding-model`), set when a case runs; known to every case.
pub const MODEL_VARIABLES: &[&str] = &["model", "embedding_model"];

/// `vector_near`: see [`crate::check::matchers::vector_near`].
#[derive(Debug, Clone)]
pub struct VectorNear {
    pub to: Value,
    pub tolerance: f64,
}

impl VectorNear {
    /// The tolerance when a case gives none: well above the float32 rounding of a float
    /// answer and the run-to-run noise of real servers, well below the distance between the
    /// vectors of two different texts.
    pub const DEFAULT_TOLERANCE: f64 = 0.01;
}

#[derive(Debug, Clone)]
pub struct Observe {
    pub path: Selector,
    pub present: Option<String>,
    pub absent: Option<String>,
}

/// A case file that could not be turned into cases: it becomes one failing test.
#[derive(Debug, Clone)]
pub struct Broken {
    pub id: String,
    pub file: String,
    pub error: String,
    /// Where in the file the error is, when it is in a file.
    pub at: Option<At>,
}

impl Broken {
    /// The case file `file` does not load; `text` is what it holds, when it is at hand, for
    /// the excerpt of the line at fault.
    fn of(id: &str, file: &str, error: &LoadError, text: &dyn Fn() -> Option<String>) -> Self {
        Broken {
            id: id.to_string(),
            file: file.to_string(),
            error: error.render(text().as_deref()),
            at: Some(error.place().clone()),
        }
    }
}

/// What discovery found.
#[derive(Debug)]
pub struct Discovered {
    /// The cases of the files read, in order.
    pub cases: Vec<Result<Case, Broken>>,
    /// Ids of the files left unread: the selection cannot include any of their cases.
    pub unread: Vec<String>,
}

/// Finds every `*.yaml` / `*.yml` below `root`, sorted, and loads each whose id `wanted`
/// accepts (a file's tests are its id and `<id>/<row>`; skipping the others keeps a process
/// that runs one test, as nextest starts them, from parsing the whole suite). An empty folder
/// is an error: a suite that finds nothing must not pass.
pub fn discover(
    root: &Path,
    spec: &Spec,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Discovered, String> {
    let (sources, unread) = read(root, wanted, &std::sync::OnceLock::new(), None)?;
    Ok(Discovered {
        cases: validate(sources, spec),
        unread,
    })
}

/// A case file read and parsed, not yet checked against the spec (which may still be loading).
pub struct Source {
    id: String,
    file: String,
    /// Where it is read from: read again for the excerpt of an error, as the text is not kept
    /// while the spec loads.
    path: PathBuf,
    parsed: Result<CaseFile, LoadError>,
}

/// A case file read: its cases, or, when the spec was not loaded yet, the file parsed.
pub enum Read {
    Cases(Vec<Result<Case, Broken>>),
    /// Cases [`read`] handed over as soon as they were checked.
    Handed(Vec<Result<Case, Broken>>),
    Parsed(Box<Source>),
}

/// Takes the cases of one file as soon as they are checked, while other files are still read.
pub type Hand<'a> = dyn Fn(&Arc<Spec>, &[Result<Case, Broken>]) + Sync + 'a;

/// Finds, reads and parses (on every core) the case files below `root` that `wanted` accepts,
/// as [`discover`] does; answers them and the ids of the files left unread. A file parsed once
/// `spec` is set is checked at once, so that its parsed form does not outlive it (at 10,000
/// cases the parsed files would be most of the memory); [`validate`] checks the others. Those
/// cases go to `hand` too, as [`Read::Handed`], when no other file's snapshots could be theirs
/// (a clash between files is known only once every file is read).
pub fn read(
    root: &Path,
    wanted: &dyn Fn(&str) -> bool,
    spec: &std::sync::OnceLock<std::sync::Arc<Spec>>,
    hand: Option<&Hand>,
) -> Result<(Vec<Read>, Vec<String>), String> {
    let mut files = if crate::bundle::is_bundled(root) {
        crate::bundle::files_below(root, &["yaml", "yml"])
            .map(|found| found.into_iter().map(|path| (path, None)).collect())
    } else {
        let mut found = Vec::new();
        collect(root, &mut found).map(|()| found)
    }
    .map_err(|e| format!("{}: cannot read the cases folder: {e}", root.display()))?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(format!(
            "{}: no case files (*.yaml) found; point --cases at the folder that holds them",
            root.display()
        ));
    }
    let shown_root = root.file_name().map(PathBuf::from).unwrap_or_default();
    let mut unread = Vec::new();
    let mut selected = Vec::new();
    for (path, refused) in files {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let id = relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if wanted(&id) {
            let file = shown_root.join(relative).display().to_string();
            selected.push((path, id, file, refused));
        } else {
            unread.push(id);
        }
    }
    let apart = crate::snapshot::apart(selected.iter().map(|(_, id, _, _)| id.as_str()));
    let selected: Vec<_> = selected.into_iter().zip(apart).collect();
    let sources = crate::parallel::map(&selected, FILES_PER_THREAD, |selected| {
        let ((path, id, file, refused), apart) = selected;
        let parsed = match *refused {
            Some(why) => Err(LoadError::at(At::file(file), Problem::Refused(why))),
            None => read_case_file(path, file)
                .and_then(|text| Ok(crate::yaml_subset::parse(file, &text)?)),
        };
        let source = Source {
            id: id.clone(),
            file: file.clone(),
            path: path.clone(),
            parsed,
        };
        let Some(spec) = spec.get() else {
            return Read::Parsed(Box::new(source));
        };
        let cases = cases_of_source(&source, spec);
        match hand.filter(|_| *apart) {
            Some(hand) => {
                hand(spec, &cases);
                Read::Handed(cases)
            }
            None => Read::Cases(cases),
        }
    });
    Ok((sources, unread))
}

/// The cases of the files read, in order: the files not checked yet are checked against the
/// spec and the catalogue, on every core (one case per file, or one per parameter row).
pub fn validate(sources: Vec<Read>, spec: &Spec) -> Vec<Result<Case, Broken>> {
    check_parsed(sources, spec)
        .into_iter()
        .flat_map(|read| match read {
            Read::Cases(cases) | Read::Handed(cases) => cases,
            Read::Parsed(_) => Vec::new(),
        })
        .collect()
}

/// The files read, in order, those only parsed checked now (on every core).
pub fn check_parsed(sources: Vec<Read>, spec: &Spec) -> Vec<Read> {
    let pending: Vec<&Source> = sources
        .iter()
        .filter_map(|read| match read {
            Read::Parsed(source) => Some(source.as_ref()),
            Read::Cases(_) | Read::Handed(_) => None,
        })
        .collect();
    let checked = crate::parallel::map(&pending, FILES_PER_THREAD, |source| {
        cases_of_source(source, spec)
    });
    let mut checked = checked.into_iter();
    sources
        .into_iter()
        .map(|read| match read {
            Read::Parsed(_) => Read::Cases(checked.next().unwrap_or_default()),
            read => read,
        })
        .collect()
}

fn cases_of_source(source: &Source, spec: &Spec) -> Vec<Result<Case, Broken>> {
    match &source.parsed {
        Ok(parsed) => {
            let text = || read_case_file(&source.path, &source.file).ok();
            cases_of(&source.id, &source.file, parsed, spec, &text)
        }
        Err(error) => vec![Err(Broken::of(&source.id, &source.file, error, &|| None))],
    }
}

/// Case files per thread at the least, when they are read and checked on every core.
const FILES_PER_THREAD: usize = 16;

/// The largest case file read; the suite's largest is a few KiB.
pub const MAX_CASE_FILE_BYTES: u64 = 1024 * 1024;

/// What a case file is read into first: more than most case files hold.
const CASE_FILE_READ_BUFFER: usize = 8 * 1024;

/// Every case file below `dir`, each with why it is refused, if it is. Discovery follows no
/// symbolic link (so it never leaves the folder, and never loops): a link that names a case
/// file or a folder is refused, and so is a case file that is not a regular file (a pipe, a
/// device), which could hang the load or never end.
fn collect(dir: &Path, out: &mut Vec<(PathBuf, Option<&'static str>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let (path, kind) = (entry.path(), entry.file_type()?);
        let case_file = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if kind.is_symlink() {
            if case_file || path.is_dir() {
                let refused = "is a symbolic link: case discovery follows no links (copy the \
                               file or folder into the cases folder)";
                out.push((path, Some(refused)));
            }
        } else if kind.is_dir() {
            collect(&path, out)?;
        } else if case_file && !kind.is_file() {
            out.push((path, Some("is not a regular file: not read")));
        } else if case_file {
            out.push((path, None));
        }
    }
    Ok(())
}

/// Reads a case file: at most [`MAX_CASE_FILE_BYTES`], and UTF-8 (else where it is not).
fn read_case_file(path: &Path, file: &str) -> Result<String, LoadError> {
    use std::io::Read as _;
    let cannot_read = |e: std::io::Error| LoadError::at(At::file(file), Problem::Read(e));
    if crate::bundle::is_bundled(path) {
        return crate::bundle::read_to_string(path).map_err(cannot_read);
    }
    // Room for a whole case file of the common size up front: without it the read starts
    // with small probes and grows, seven reads for a file of 1.5 KiB instead of two.
    let mut bytes = Vec::with_capacity(CASE_FILE_READ_BUFFER);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CASE_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_CASE_FILE_BYTES {
        let kib = MAX_CASE_FILE_BYTES / 1024;
        return Err(LoadError::at(At::file(file), Problem::TooLarge { kib }));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let (line, col) = crate::yaml::line_col(valid, valid.len());
        let at = At {
            file: file.to_string(),
            line_col: Some((line as u64, col as u64)),
        };
        LoadError::at(at, Problem::NotUtf8)
    })
}

/// Parses and validates one case file: one case, or one per parameter row.
pub fn load(id: &str, file: &str, text: &str, spec: &Spec) -> Vec<Result<Case, Broken>> {
    match crate::yaml_subset::parse(file, text) {
        Ok(parsed) => cases_of(id, file, &parsed, spec, &|| Some(text.to_string())),
        Err(error) => vec![Err(Broken::of(id, file, &error.into(), &|| None))],
    }
}

/// [`load`] of a case the harness writes itself (the overlay's setup steps), from its value:
/// one that loads is not written out and parsed back; one that does not is loaded from its
/// text, for the places its errors name.
pub fn load_value(
    id: &str,
    file: &str,
    document: &Value,
    spec: &Spec,
) -> Vec<Result<Case, Broken>> {
    use serde::Deserialize as _;
    if let Ok(parsed) = CaseFile::deserialize(document) {
        let cases = cases_of(id, file, &parsed, spec, &|| None);
        if cases.iter().all(Result::is_ok) {
            return cases;
        }
    }
    load(id, file, &written(document), spec)
}

/// A case the harness writes itself, as its errors show it.
pub fn written(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

fn cases_of(
    id: &str,
    file: &str,
    parsed: &CaseFile,
    spec: &Spec,
    text: &dyn Fn() -> Option<String>,
) -> Vec<Result<Case, Broken>> {
    let rows = match rows(file, parsed) {
        Ok(rows) => rows,
        Err(error) => return vec![Err(Broken::of(id, file, &error, text))],
    };
    // A row's case follows from the file and the names of its values alone (the values are
    // checked in `rows`): rows with the names of the one before share its case, or its error,
    // instead of checking the same steps again.
    let mut checked: Option<(Vec<String>, usize)> = None;
    let mut cases: Vec<Result<Case, Broken>> = Vec::with_capacity(rows.len());
    for (suffix, vars) in rows {
        let id = match suffix {
            Some(row) => format!("{id}/{row}"),
            None => id.to_string(),
        };
        let same = checked
            .as_ref()
            .filter(|(names, _)| names.iter().eq(vars.keys()))
            .map(|&(_, first)| &cases[first]);
        let case = match same {
            // The steps are shared (`Arc`s), not copied.
            Some(Ok(case)) => Ok(Case {
                id,
                vars,
                ..case.clone()
            }),
            Some(Err(broken)) => Err(Broken {
                id,
                ..broken.clone()
            }),
            None => {
                checked = Some((vars.keys().cloned().collect(), cases.len()));
                match (Validator { spec, file }).case(parsed, vars) {
                    Ok(case) => Ok(Case { id, ..case }),
                    Err(error) => Err(Broken::of(&id, file, &error, text)),
                }
            }
        };
        cases.push(case);
    }
    cases
}

fn rows(file: &str, parsed: &CaseFile) -> Result<Vec<(Option<String>, Vars)>, LoadError> {
    if parsed.parameters.is_empty() {
        return Ok(vec![(None, Vars::new())]);
    }
    let mut seen = BTreeSet::new();
    parsed
        .parameters
        .iter()
        .map(|row| {
            let fail = |problem| LoadError::at(At::of(file, &row.referenced), problem);
            let name = row
                .value
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| fail(Problem::RowWithoutName))?;
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !valid {
                return Err(fail(Problem::RowName(name.to_string())));
            }
            if !seen.insert(name.to_string()) {
                return Err(fail(Problem::RowTwice(name.to_string())));
            }
            // Row values may use generators (a 65-character key); expand them once here.
            let vars = row
                .value
                .iter()
                .map(|(k, v)| {
                    template::check(v, &BTreeSet::new())
                        .and_then(|()| template::expand(v, &Vars::new()))
                        .map(|v| (k.clone(), v.into_owned()))
                        .map_err(|source| {
                            fail(Problem::Parameter {
                                name: k.clone(),
                                source,
                            })
                        })
                })
                .collect::<Result<Vars, LoadError>>()?;
            Ok((Some(name.to_string()), vars))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn read_hands_over_each_file_checked_once_the_spec_is_there_unless_it_may_clash() {
        let dir = tempfile::tempdir().unwrap();
        let case = "requirement: CRE-02\nsteps:\n- operation: createConversation\n  \
                    body: {}\n  expect: {status: 200}\n  snapshot: true\n";
        let names = [
            "a/one", "a/two", "b/Big", "b/big", "c/rows", "c/rows/X", "d/p",
        ];
        for name in names {
            let file = dir.path().join(format!("{name}.yaml"));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, case).unwrap();
        }
        let loaded = std::sync::OnceLock::new();
        let _ = loaded.set(Arc::new(spec()));
        let handed = std::sync::Mutex::new(Vec::new());
        let hand = |_: &Arc<Spec>, cases: &[Result<Case, Broken>]| {
            let ids = cases.iter().flatten().map(|c| c.id.clone());
            handed.lock().unwrap().extend(ids);
        };
        let (sources, _) = read(dir.path(), &|_| true, &loaded, Some(&hand)).unwrap();
        let mut handed = handed.into_inner().unwrap();
        handed.sort();
        assert_eq!(handed, ["a/one", "a/two", "d/p"]);
        let kinds: Vec<bool> = sources
            .iter()
            .map(|read| matches!(read, Read::Handed(_)))
            .collect();
        assert_eq!(kinds.iter().filter(|handed| **handed).count(), 3);
        // Handed or not, every file's cases are in the suite, in order.
        assert_eq!(validate(sources, &spec()).len(), names.len());
    }

    fn load_one(text: &str) -> Result<Case, String> {
        let mut cases = load("x", "cases/x.yaml", text, &spec());
        assert_eq!(cases.len(), 1);
        cases.remove(0).map_err(|b| b.error)
    }

    #[test]
    fn a_case_loaded_from_its_value_is_the_one_its_text_gives_and_so_are_its_errors() {
        let spec = spec();
        let document = serde_json::json!({"requirement": "UPD-03", "steps": [
            {"operation": "createConversation", "body": {"metadata": {"k": "v"}},
             "expect": {"status": [200, 201], "json": {"object": {"type": "string"}}},
             "capture": {"conv": "$"}},
            {"operation": "updateConversation", "path_params": {"conversation_id": "{{conv.id}}"},
             "body": null, "expect": {"status": 400}}
        ]});
        let text = written(&document);
        let shown = |cases: Vec<Result<Case, Broken>>| {
            let mut case = cases.into_iter().next().unwrap().map_err(|b| b.error)?;
            // Where each step is written: the loader's place, as a value has none.
            let mut steps = case.steps.to_vec();
            steps.iter_mut().for_each(|s| {
                s.at = Place::DeriveSetup {
                    operation: "x".into(),
                }
            });
            case.steps = steps.into();
            Ok::<_, String>(format!("{case:?}"))
        };
        let (from_value, from_text) = (
            shown(load_value("x", "x", &document, &spec)),
            shown(load("x", "x", &text, &spec)),
        );
        assert!(from_value.is_ok(), "{from_value:?}");
        assert_eq!(from_value, from_text);
        let mut broken = document.clone();
        broken["steps"][1]["operation"] = "noSuchOperation".into();
        let error = shown(load_value("x", "x", &broken, &spec)).unwrap_err();
        assert_eq!(
            Err(error.clone()),
            shown(load("x", "x", &written(&broken), &spec))
        );
        let placed = regex::Regex::new(r"^x:\d+:\d+").unwrap();
        assert!(
            placed.is_match(&error),
            "placed in the written text: {error}"
        );
    }

    #[test]
    fn loads_a_case_with_captures_and_templates() {
        let case = load_one(
            "requirement: UPD-03\nsteps:\n\
             - operation: createConversation\n  capture: {conv: $}\n\
             - operation: updateConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n  body: {metadata: null}\n  expect:\n    status: 200\n    json:\n      id: {equals: '{{conv.id}}'}\n",
        )
        .unwrap();
        assert_eq!(case.level, Level::Must);
        assert_eq!(case.steps.len(), 2);
        assert_eq!(case.steps[1].method, "POST");
        assert!(
            matches!(&case.steps[1].body, Body::Json(v) if v == &serde_json::json!({"metadata": null}))
        );
        assert!(matches!(case.steps[0].body, Body::None));
        let null_body = load_one(
            "requirement: UPD-16\nsteps:\n- operation: createConversation\n  body: null\n",
        )
        .unwrap();
        assert!(matches!(null_body.steps[0].body, Body::Json(Value::Null)));
    }

    #[test]
    fn points_at_unknown_operations_fields_and_variables() {
        let steps = "requirement: UPD-01\nsteps:\n";
        let errors: Vec<String> = [
            "- operation: updateConvo\n",
            "- operation: createConversation\n  bdy: {}\n",
            "- operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n",
            "- operation: createConversation\n  expect:\n    json:\n      'data[': {absent: true}\n",
            "- operation: createConversation\n  expect:\n    json:\n      id: {}\n",
            "- operation: createConversation\n  expect:\n    json:\n      id: {pattern: '('}\n",
            "- operation: createConversation\n  expect:\n    status: 99\n",
            "- operation: createConversation\n  capture: {index: id}\n",
            "- operation: createConversation\n  body: {a: 1}\n  raw_body: x\n",
            "- method: GET\n  path: conversations\n",
            "- name: list\n  method: G E T\n  path: /conversations\n",
            "- operation: createConversation\n  body: {a: '{{nope}}'}\n",
            "- operation: createConversation\n  snapshot: {redact: {'a[': x}}\n",
        ]
        .iter()
        .map(|step| load_one(&format!("{steps}{step}")).unwrap_err())
        .chain([
            load_one("requirement: NOPE-1\nsteps:\n- operation: createConversation\n").unwrap_err(),
            load_one("requirement: UPD-01\nlevel: SHOULD\nsteps:\n- operation: createConversation\n")
                .unwrap_err(),
            load_one("requirement: UPD-01\nsteps: []\n").unwrap_err(),
            load_one("requirement: UPD-01\ncovers: [x]\nsteps:\n- operation: createConversation\n")
                .unwrap_err(),
            load_one("requirement: UPD-01\nparameters:\n- {value: 1}\nsteps:\n- operation: createConversation\n")
                .unwrap_err(),
        ])
        // The unknown operation's list of the spec's operations is long and changes with it.
        .map(|e| e.split(" (the spec has: ").next().unwrap_or_default().to_string())
        .collect();
        insta::assert_snapshot!(errors.join("\n"), @r"
        cases/x.yaml:3:14: unknown operation `updateConvo`
        cases/x.yaml:4:3: unknown field `bdy`, expected one of name, requirement, operation, method, path, path_params, query, headers, auth, body, raw_body, content_type, expect, capture, snapshot, observe, stream
          |
        4 |   bdy: {}
          |   ^
        cases/x.yaml:3:3: step 1: path_params.conversation_id: undefined variable `conv` in `{{conv.id}}` (defined here: embedding_model, model)
          |
        3 | - operation: getConversation
          |   ^
        cases/x.yaml:6:16: bad selector `data[`: expected an index, a quoted key or * after `[` at column 6
          |
        6 |       'data[': {absent: true}
          |                ^
        cases/x.yaml:6:11: this expectation checks nothing: give equals, one_of, type, pattern, absent, length, contains, near_now or vector_near
          |
        6 |       id: {}
          |           ^
        cases/x.yaml:6:11: bad pattern `(`: regex parse error:
            (
            ^
        error: unclosed group
          |
        6 |       id: {pattern: '('}
          |           ^
        cases/x.yaml:5:13: 99 is not an HTTP status
          |
        5 |     status: 99
          |             ^
        cases/x.yaml:3:3: step 1: `index` is reserved for generators
          |
        3 | - operation: createConversation
          |   ^
        cases/x.yaml:3:3: step 1: give `body` or `raw_body`, not both
          |
        3 | - operation: createConversation
          |   ^
        cases/x.yaml:4:9: a path starts with `/` and is relative to the base URL
          |
        4 |   path: conversations
          |         ^
        cases/x.yaml:3:3: step 1 (list): `G E T` is not an HTTP method
          |
        3 | - name: list
          |   ^
        cases/x.yaml:4:9: body: undefined variable `nope` in `{{nope}}` (defined here: embedding_model, model)
          |
        4 |   body: {a: '{{nope}}'}
          |         ^
        cases/x.yaml:4:13: snapshot: bad selector `a[`: expected an index, a quoted key or * after `[` at column 3
          |
        4 |   snapshot: {redact: {'a[': x}}
          |             ^
        cases/x.yaml:1:14: unknown requirement `NOPE-1`: use an ID of specs/requirements.yaml
          |
        1 | requirement: NOPE-1
          |              ^
        cases/x.yaml:2:8: level SHOULD does not match the catalogue, which says UPD-01 is MUST
          |
        2 | level: SHOULD
          |        ^
        cases/x.yaml: a case needs at least one step
        cases/x.yaml:2:10: covers `x`: name a derived case (`derived/<operation>/...`, listed by `--list derived/`)
          |
        2 | covers: [x]
          |          ^
        cases/x.yaml:3:3: a parameter row needs a `name` (it names the test)
          |
        3 | - {value: 1}
          |   ^
        ");
    }

    #[test]
    fn parameter_rows_become_tests_with_their_own_variables() {
        let cases = load(
            "x",
            "cases/x.yaml",
            "requirement: UPD-07\nparameters:\n- {name: number, value: 1}\n- {name: boolean, value: true}\n\
             steps:\n- operation: createConversation\n  body: {metadata: {k: '{{value}}'}}\n",
            &spec(),
        );
        let ids: Vec<_> = cases
            .iter()
            .map(|c| c.as_ref().unwrap().id.clone())
            .collect();
        assert_eq!(ids, vec!["x/number", "x/boolean"]);
    }
}
