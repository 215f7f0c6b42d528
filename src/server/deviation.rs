//! Deviations: ways real servers are known to differ from the contract, each one switchable on
//! the reference server (`conformance serve --deviate NAME`). They show what a failure looks
//! like, and they prove that the bundled suite catches each of them.
//!
//! Every deviation changes the server in exactly one way, at one place marked by
//! `deviates(Deviation::...)`. With none active the server follows the catalogue.

use std::fmt;
use std::str::FromStr;

macro_rules! deviations {
    ($($variant:ident = $name:literal: $summary:literal,)*) => {
        /// One known way a real server breaks the contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Deviation {
            $(#[doc = $summary] $variant,)*
        }

        impl Deviation {
            /// Every deviation, in the order they are listed.
            pub const ALL: &'static [Deviation] = &[$(Deviation::$variant,)*];

            /// The kebab-case name the command line takes.
            pub fn name(self) -> &'static str {
                match self {
                    $(Deviation::$variant => $name,)*
                }
            }

            /// One line: what the server does instead, and the requirement it breaks.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Deviation::$variant => $summary,)*
                }
            }
        }
    };
}

deviations! {
    UpdateMergesMetadata = "update-merges-metadata":
        "update merges the sent pairs into the stored metadata instead of replacing it (UPD-04, INFO)",
    MetadataLimitsNotEnforced = "metadata-limits-not-enforced":
        "17 pairs, 65-character keys and 513-character values are stored (UPD-06, CRE-05)",
    LimitsCountBytes = "limits-count-bytes":
        "metadata key and value lengths are counted in bytes, not characters (UPD-05, CRE-05)",
    NonStringValuesAccepted = "non-string-values-accepted":
        "metadata values of any JSON type are stored (UPD-07, CRE-05)",
    EmptyUpdateAccepted = "empty-update-accepted":
        "an update without `metadata` (`{}`) is taken as `metadata: null` (UPD-10)",
    NullMetadataRejected = "null-metadata-rejected":
        "an update with `metadata: null` answers 400 (UPD-12)",
    UnknownFieldsIgnored = "unknown-fields-ignored":
        "unknown body fields are ignored instead of rejected (UPD-17, SHOULD)",
    CreateWithoutBodyRejected = "create-without-body-rejected":
        "a create without a body answers 400 (CRE-01)",
    CreateIgnoresMetadata = "create-ignores-metadata":
        "create stores empty metadata whatever it was given (CRE-02)",
    UpdateNotPersisted = "update-not-persisted":
        "update answers the new metadata but keeps the old (UPD-03)",
    UpdateChangesCreatedAt = "update-changes-created-at":
        "update re-stamps `created_at` with a later time (UPD-02)",
    UpdateChangesId = "update-changes-id":
        "update answers another id than the path's (UPD-02)",
    CreatedAtMilliseconds = "created-at-milliseconds":
        "`created_at` is in milliseconds (CRE-03)",
    IdsWithoutPrefix = "ids-without-prefix":
        "conversation ids lack the `conv_` prefix (CRE-04, SHOULD)",
    UnknownIdsPlaceholder = "unknown-ids-placeholder":
        "retrieve, update and delete of an unknown conversation answer 200 with placeholder data (RET-02, UPD-14)",
    UnknownIdsCreated = "unknown-ids-created":
        "any call naming an unknown conversation creates it on the fly (RET-02, UPD-14)",
    DeleteAnswersOtherShape = "delete-answers-other-shape":
        "delete answers `{id, deleted}` without `object` (DEL-01)",
    SecondDeleteSucceeds = "second-delete-succeeds":
        "deleting an already deleted conversation answers 200 again (DEL-03, SHOULD)",
    DeleteKeepsConversation = "delete-keeps-conversation":
        "delete answers success but the conversation stays (DEL-02)",
    ErrorsAsDetail = "errors-as-detail":
        "errors are `{\"detail\": \"<text>\"}` (GEN-02)",
    ErrorsAsString = "errors-as-string":
        "errors are `{\"error\": \"<text>\"}` (GEN-02)",
    ErrorsWithoutParamCode = "errors-without-param-code":
        "the error object lacks `param` and `code` (GEN-03, SHOULD)",
    ErrorsWithoutType = "errors-without-type":
        "the error object lacks `type` (GEN-02)",
    NoKeyServed = "no-key-served":
        "requests without an API key are served (GEN-04, SHOULD)",
    UnknownPath200 = "unknown-path-200":
        "an unknown path answers 200 `{}` (GEN-06, SHOULD)",
    UnknownPathText404 = "unknown-path-text-404":
        "an unknown path answers 404 with a plain-text body (GEN-01)",
    JsonAsTextPlain = "json-as-text-plain":
        "JSON answers say `Content-Type: text/plain` (GEN-01)",
    InvalidJson500 = "invalid-json-500":
        "a body that is not a JSON object answers 500 (UPD-16, GEN-05)",
    MalformedId500 = "malformed-id-500":
        "a conversation id without the `conv_` prefix answers 500 (UPD-15, GEN-05)",
    ItemsDefaultOrderAsc = "items-default-order-asc":
        "item lists are oldest first by default (ITM-03)",
    ItemsDefaultLimit100 = "items-default-limit-100":
        "item lists hold up to 100 items by default (ITM-03)",
    HasMoreAlwaysFalse = "has-more-always-false":
        "item lists always say `has_more: false` (ITM-04)",
    AfterIgnored = "after-ignored":
        "the `after` cursor of item lists is ignored (ITM-04)",
    LimitNotChecked = "limit-not-checked":
        "a list `limit` outside 1..100 is clamped instead of rejected (ITM-05)",
    IncludeBracketsRejected = "include-brackets-rejected":
        "the SDKs' `include[]=...` form answers 400 (ITM-06)",
    ItemCountNotLimited = "item-count-not-limited":
        "more than 20 items per call are accepted, at create and when adding items (CRE-06, ITM-02)",
    ItemDeleteAnswersDeletedObject = "item-delete-answers-deleted-object":
        "item delete answers `{object: \"conversation.item.deleted\"}` instead of the conversation (ITM-08)",
    UnknownItemsPlaceholder = "unknown-items-placeholder":
        "retrieve and delete of an unknown item answer 200 (ITM-07)",
    ItemStatusNull = "item-status-null":
        "items are stored with `status: null` (ITM-01)",
    ListsWithoutFirstLastIds = "lists-without-first-last-ids":
        "item lists have no `first_id`/`last_id` (ITM-04)",
    CreateIgnoresItems = "create-ignores-items":
        "items given at create are dropped (CRE-06)",
    CreateMetadataNull = "create-metadata-null":
        "a conversation created without metadata has `metadata: null` (CRE-01)",
    ItemsWithoutAuth = "items-without-auth":
        "item operations are served without an API key (GEN-04, SHOULD)",
    UndeclaredMethodsAsRetrieve = "undeclared-methods-as-retrieve":
        "PUT and PATCH are answered as GET on every path (GEN-07, SHOULD)",
    ItemsUnknownFieldsIgnored = "items-unknown-fields-ignored":
        "adding items ignores unknown top-level body fields (GEN-08, SHOULD)",
    ItemsAcrossConversations = "items-across-conversations":
        "an item is retrieved and deleted under any existing conversation's path (ITM-11)",
    MetadataValuesTrimmed = "metadata-values-trimmed":
        "metadata values are stored with surrounding whitespace trimmed (GEN-09)",
    ItemsSystemAsDeveloper = "items-system-as-developer":
        "stored `system` messages come back with the role `developer` (ITM-12)",
    ItemPartsReversed = "item-parts-reversed":
        "a stored message's content parts come back in reverse order (ITM-12)",
    StreamWithoutSequenceNumbers = "stream-without-sequence-numbers":
        "streamed events carry no `sequence_number` (RSP-10)",
    StreamWithoutDoneEvents = "stream-without-done-events":
        "streams leave out `response.output_text.done` and `response.function_call_arguments.done` (RSP-11)",
    StreamTwoResponseIds = "stream-two-response-ids":
        "a stream's `response.created` names another response id than its end (RSP-12)",
    StreamDoneTrailer = "stream-done-trailer":
        "a Responses stream ends with the chat completions' `data: [DONE]` (RSP-09)",
    PreviousResponseIdIgnored = "previous-response-id-ignored":
        "`previous_response_id` is accepted and ignored (RSP-07)",
    CutStatusCompleted = "cut-status-completed":
        "a response cut by `max_output_tokens` says `status: completed` (RSP-04)",
    ModelsListWithoutObject = "models-list-without-object":
        "the model list has no `object: \"list\"` (MDL-01)",
    ModelsCreatedFloat = "models-created-float":
        "a model's `created` is a float (MDL-02)",
    RetrieveModelMissing = "retrieve-model-missing":
        "retrieve answers 404 for the model the list names (MDL-04)",
    EmbeddingsBase64Unsupported = "embeddings-base64-unsupported":
        "`encoding_format: base64` answers 400, only `float` is served (EMB-05)",
    EmbeddingsBase64OtherDimension = "embeddings-base64-other-dimension":
        "base64 embeddings hold float64s, so they decode to twice the float dimension (EMB-05)",
    EmbeddingsOrderShuffled = "embeddings-order-shuffled":
        "the embeddings of several inputs come in reverse order (EMB-02)",
    EmbeddingsEmptyInputAccepted = "embeddings-empty-input-accepted":
        "an empty input (`\"\"`, `[]`) is embedded instead of rejected (EMB-07)",
    EmbeddingsDimensionsIgnored = "embeddings-dimensions-ignored":
        "`dimensions` is accepted and ignored (EMB-06, SHOULD)",
    ChatUsageEveryChunk = "chat-usage-every-chunk":
        "every chunk of a chat stream carries the usage (CHT-08)",
    ChatUsageChunkWithChoices = "chat-usage-chunk-with-choices":
        "the usage asked for by `include_usage` rides on the finish chunk, not on a last chunk with `choices: []` (CHT-08)",
    ChatWithoutDone = "chat-without-done":
        "a chat stream ends without `data: [DONE]` (CHT-05)",
    ChatFinishReasonMissing = "chat-finish-reason-missing":
        "chat stream chunks carry no `finish_reason` key until the last (CHT-07)",
    ChatFinishReasonTwice = "chat-finish-reason-twice":
        "a chat stream sends its finish chunk twice (CHT-07)",
    ChatFinishReasonToolCall = "chat-finish-reason-tool-call":
        "a choice that calls a tool ends with `finish_reason: \"tool_call\"` (CHT-01, CHT-07)",
    ToolDeltaWithoutIndex = "tool-delta-without-index":
        "streamed tool-call deltas after the first have no `index` (CHT-09)",
    ToolDeltaWithoutType = "tool-delta-without-type":
        "the first streamed tool-call delta has no `type` (CHT-09)",
    ToolDeltaArgumentsNull = "tool-delta-arguments-null":
        "the first streamed tool-call delta has `arguments: null` (CHT-09)",
    ChatWithoutRefusal = "chat-without-refusal":
        "chat completion messages have no `refusal` key (CHT-01)",
    ChatCreatedFloat = "chat-created-float":
        "a chat completion's `created` is a float (CHT-01, CHT-06)",
    ChatErrorNotNested = "chat-error-not-nested":
        "chat errors are the error object itself, not nested under `error` (GEN-02)",
    ChatError200 = "chat-error-200":
        "chat errors are answered with status 200 (CHT-12)",
    ChatUnknownFieldsRejected = "chat-unknown-fields-rejected":
        "chat completions reject the declared optional fields `user`, `seed`, `safety_identifier`, `prompt_cache_key` as unknown (CHT-14, SHOULD)",
    ChatRangesUnchecked = "chat-ranges-unchecked":
        "chat completions accept `n`, penalties, `temperature` and `top_p` out of range and `top_logprobs` without `logprobs` (CHT-12)",
    StallsAfter500 = "stalls-after-500":
        "after each 5xx it sends, the server answers nothing for a while (CONFORMANCE_SERVE_STALL_MS, 15000 by default); with no 5xx it changes nothing",
    BreaksUnderBurst = "breaks-under-burst":
        "the first request takes 300 ms to warm the server up, and any that arrives meanwhile hangs for the stall time (a fresh server broken by a burst of first requests)",
    InputItemsDefaultOrderAsc = "input-items-default-order-asc":
        "a response's input items are listed oldest first when `order` is left out (RSP-06)",
    LongValuesTruncated = "long-values-truncated":
        "metadata values are stored cut to their first 256 characters, short of the 512 they may hold (GEN-09, UPD-05, CRE-05)",
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Deviation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deviation `{0}`: `--deviate list` shows the known ones")]
pub struct UnknownDeviation(String);

impl FromStr for Deviation {
    type Err = UnknownDeviation;

    fn from_str(name: &str) -> Result<Self, UnknownDeviation> {
        Self::ALL
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| UnknownDeviation(name.to_owned()))
    }
}

/// The active deviations as a bit set: asking costs one AND, so the hooks cost nothing
/// noticeable when none is active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deviations(u128);

impl Deviations {
    pub(crate) fn new(active: &[Deviation]) -> Self {
        Self(active.iter().fold(0, |bits, &d| bits | Self::bit(d)))
    }

    fn bit(d: Deviation) -> u128 {
        1 << (d as u32)
    }

    pub(crate) fn deviates(self, d: Deviation) -> bool {
        self.0 & Self::bit(d) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deviation_has_its_own_bit_and_name() {
        assert!(Deviation::ALL.len() <= 128);
        for (i, &d) in Deviation::ALL.iter().enumerate() {
            assert_eq!(d as usize, i);
            assert_eq!(d.name().parse::<Deviation>(), Ok(d));
            assert!(d
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            let alone = Deviations::new(&[d]);
            assert!(Deviation::ALL
                .iter()
                .all(|&other| alone.deviates(other) == (other == d)));
        }
        assert!(!Deviations::default().deviates(Deviation::ALL[0]));
        assert!("nope".parse::<Deviation>().is_err());
    }
}
