//! # conformance
//!
//! Checks a server against the OpenAI API contract (Conversations, Responses, Models,
//! Embeddings), requirement by requirement.
//!
//! The data flow, one module each: [`cli`] makes the [`config`]; [`suite`] loads everything
//! once: [`spec`] the official OpenAPI extract, our overlay and the requirements catalogue,
//! [`case`] the YAML cases (discovered and validated), [`case::derive`] more from the request
//! schemas, [`probe`] what every operation owes, the target's [`expectation`]s (known
//! failures); [`trial`] turns the cases into libtest trials and schedules them; [`run`]
//! sends each step to the [`target`] and [`check`]s the answers; [`verdict`] decides what a
//! finding means (MUST fails, SHOULD warns, INFO is observed) and [`case_result`] what a case
//! comes to; [`snapshot`] keeps regression snapshots through insta; [`report`] renders the
//! summary and the reports, [`exit`] the exit code; [`coverage`] reports what the suite
//! exercises.
//! [`server`] is the embedded reference server, started when no base URL is given.
//!
//! # The case format
//!
//! One YAML file under `cases/` is one test, named by its path without `.yaml`
//! (`cases/conversations/update/keeps_identity.yaml` is
//! `conversations/update/keeps_identity`). The format's JSON Schema, for editors, is
//! `specs/case.schema.json`.
//!
//! ```yaml
//! requirement: UPD-02            # an ID of specs/requirements.yaml; it gives the level
//! level: MUST                    # optional; must agree with the catalogue
//! title: the answer keeps the conversation's id
//! parameters:                    # optional: one test per row, `<case>/<name>`
//!   - {name: number, value: 1}   # row fields are variables: {{value}}
//! steps:
//!   - name: create
//!     operation: createConversation          # an operationId of the spec...
//!     body: {metadata: {topic: demo}}        # JSON body; `body: null` sends null
//!     expect: {status: 200}
//!     capture: {conv: $}                     # variable <- selector into the answer
//!   - name: update
//!     operation: updateConversation
//!     path_params: {conversation_id: "{{conv.id}}"}
//!     body: {metadata: {topic: x}}
//!     expect:
//!       status: 200                          # or a list: [400, 404]
//!       headers:
//!         content-type: {pattern: "^application/json"}
//!       json:
//!         id: {equals: "{{conv.id}}"}
//!         created_at: {equals: "{{conv.created_at}}"}
//!         metadata: {contains: {topic: x}}
//!         error.code: {equals: invalid_type, requirement: UPD-09}   # another requirement
//!     snapshot: true                         # or {redact: {selector: placeholder}}
//!   - method: POST                           # ...or a method and a path
//!     path: /conversations/{{conv.id}}/x
//!     raw_body: '{"metadata": '              # a body sent as it is
//!     auth: false                            # no Authorization header
//!     expect: {status: 404}
//! cleanup: []                                # steps run after the others, whatever happened
//! ignore: reason                             # optional: run only with --include-ignored
//! covers: [derived/updateConversation/metadata/maxProperties/at_limit]   # see below
//! ```
//!
//! **Steps** take `operation` (with `path_params` for its path parameters) or `method` and
//! `path`; `query` (a list value repeats the parameter: `include[]: [a, b]`), `headers`,
//! `auth`, `body` or `raw_body`, `content_type`, `expect`, `capture`, `snapshot`, `observe`
//! and `requirement` (attributes the step's checks to another requirement). A step that only
//! sets up or provokes an answer names the requirement that owns that answer (a retrieve of an
//! unknown id to get a 404 is `requirement: RET-02`), so a server that breaks it is reported
//! under that ID, not under the case's; its matchers name the case's requirement again. A
//! set-up step (an operation expecting 2xx, no matchers of its own, not the last) needs no
//! `requirement:`: it belongs to the operation's owner in the catalogue (`owns: [operation
//! createConversation]` on CRE-01), and when it fails the case is *blocked* by that owner.
//!
//! **Every answer** is checked, whatever the step expects: no 5xx (GEN-05), a body comes with
//! `Content-Type: application/json` (GEN-01), the body validates against the spec's schema for
//! the operation and status (for a 4xx, the error object: GEN-02), and a 4xx error object has
//! `param` and `code` (GEN-03, SHOULD). Each of these has one owner in the catalogue (`owns:`);
//! a schema error belongs to the object it lies in ([`spec::SchemaError`], `owns: [schema
//! NAME]`), and identical findings of many cases are reported as one root cause.
//!
//! **Matchers** under `expect.json` (selector -> matcher) and `expect.headers` (name ->
//! matcher): `equals`, `one_of`, `type` (`string`, `integer`, `number`, `boolean`, `object`,
//! `array`, `null`, or a list), `pattern` (a regular expression), `absent` (`true`: nothing
//! there; `false`: something there), `length` (elements, properties or characters),
//! `contains` (object pairs, array elements (an object: an element with its pairs), substring), `near_now` (unix seconds within
//! that many seconds of now) and `vector_near: {to: VECTOR, tolerance: 0.01}` (a vector, as an
//! array of numbers or base64 of little-endian float32s, of `to`'s length and each value
//! within `tolerance` of `to`'s: an embedding's base64 form against its float form). Several
//! in one matcher must all hold. `cause: TEXT` on a matcher, or in `expect` for the status,
//! names the rule a failure breaks where the field or status does not say it (`after continues
//! after the given item` on a page's ids and length, `a value of a wrong type` on a 400 owed):
//! failures with the same cause are one root cause, and different causes two.
//!
//! **Selectors**: `metadata.topic`, `data[0].id`, `data[-1].id` (from the end),
//! `metadata["key.with.dots"]`, `data[*].id`, and `$` for the whole answer.
//!
//! **Variables and generators**: `{{name}}` or `{{name.path}}` anywhere in a value; a string
//! that is only a variable keeps the variable's JSON type. `{$string: {repeat: "é", count:
//! 512}}`, `{$array: {count: 21, item: ...}}` and `{$object: {count: 17, key: "k{{index}}",
//! value: ...}}` build large values; `{{index}}` counts from 0 inside them.
//!
//! **Order in a step**: send; implicit checks; `status` (a mismatch ends the case); captures
//! (capturing nothing ends the case); header and JSON matchers; `observe` (reports a value for
//! INFO requirements: `{path: metadata.a, present: merge, absent: replace}`); the snapshot,
//! taken only when every check of the step passed. Whatever happens (a failure, a timeout, a
//! panic, Ctrl-C), `cleanup` steps run and every resource created by an operation with
//! `x-conformance-cleanup` (see `specs/overlay.yaml`) is deleted.
//!
//! Loading checks everything it can before any request is sent (unknown fields, operations,
//! requirements and variables, bad selectors and patterns) and points at `file:line:col`.
//!
//! # Derived cases
//!
//! [`case::derive`] turns every constraint of the request schemas and query parameters into
//! cases named `derived/<operation>/<field>/<constraint>/<variant>`: the value at the limit
//! (`at_limit`, `at_limit_multibyte`, `at_limit_emoji`, every `enum` value) must be accepted,
//! the value past it (`over`, `over_multibyte`, `under`, `other`, each wrong JSON type under
//! `type/`, `required/absent`) must answer 400, with `param` and `code` checked as SHOULD. They
//! are ordinary cases (built directly; the overlay's setup steps load as case steps) with the
//! same runner, verdicts and cleanup; `--no-derived` leaves them out. The overlay gives what a schema cannot:
//!
//! ```yaml
//! x-conformance-derive:                    # on an operation
//!   setup:                                 # steps in the case format, run first
//!     - {operation: createConversation, expect: {status: 200}, capture: {conv: $}}
//!   path_params: {conversation_id: '{{conv.id}}'}
//!   query: {model: nobody}                 # sent by each derived case and probe of it
//!   requirements:                          # longest prefix of <field>/<constraint>/<variant>
//!     metadata: {accept: UPD-05, reject: UPD-06, param: UPD-09}
//!     metadata/type: {reject: DER-01, param: UPD-18}
//! x-conformance-example: {...}             # on a schema the generator cannot build a value for
//! x-conformance-error-codes: {maxLength: string_above_max_length, ...}   # at the root
//! ```
//!
//! Without an entry, a case checks DER-02 (accepted at the boundary), DER-01 (rejected past it)
//! or DER-03 (`param`/`code`). Choices (`anyOf`/`oneOf`) of more than
//! [`case::derive::MAX_CHOICE`] non-null schemas, and keywords the generator does not know
//! (`pattern`, `allOf`, ...), are not entered; `conformance coverage` lists them. Every derived
//! request is validated against the spec before it is sent: one that disagrees (a generator bug,
//! or an `x-conformance-example` that does not validate) is not sent, and the failing case
//! `derived/generator-self-check` names it. For the spec embedded in the binary that answer is
//! fixed when it is built (a test of this crate proves it clean), so only `--spec-dir` pays it.
//!
//! # Probes
//!
//! [`probe`] generates, for every operation in scope, the obligations every operation owes,
//! as case values named `probe/<operation>/<kind>/<variant>`: 401 without a key and with an
//! empty bearer (GEN-04), 404 or 405 to each undeclared method of the path where sending it is
//! safe (GEN-07), 400 `unknown_parameter` to an unknown top-level field, also one another
//! operation takes (GEN-08), every string of a map field (metadata) stored byte for byte, also
//! at its length limit (GEN-09), 404 for an item under another conversation, a delete so
//! changing nothing (ITM-11), and a list answering without a defaulted query parameter as with
//! its default stated (GEN-10, or the row the overlay names). A kind is generated where the catalogue has its requirement; a
//! probe whose premise fails is reported by the failing case `probe/generator-self-check`.
//!
//! `covers:` in a case file lists derived cases the file checks at least as strictly (the same
//! request, and more): they are not generated. A name that is no derived case is an error.

// The module docs walk the whole crate, its private modules too: `cargo doc
// --document-private-items` renders every link.
#![allow(rustdoc::private_intra_doc_links)]

mod api_selection;
mod bundle;
pub mod case;
mod case_result;
pub mod chat;
mod check;
pub mod cli;
mod colour;
mod concurrency;
mod config;
mod coverage;
mod date;
mod exit;
mod expectation;
mod panic_line;
mod parallel;
mod place;
mod preflight;
mod probe;
mod report;
pub mod request_log;
mod run;
mod schedule;
pub mod schema;
mod secret;
pub mod selector;
pub mod server;
mod snapshot;
pub mod spec;
mod spec_diff;
pub mod stream;
mod suite;
pub mod target;
pub mod template;
mod trial;
pub mod untrusted;
mod verdict;
pub mod yaml;
pub mod yaml_subset;
