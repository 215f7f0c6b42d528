#!/usr/bin/env python3
"""The reference server, driven by the official `openai` Python SDK.

    python3 tests/sdk/openai_sdk.py PATH/TO/conformance     (or CONFORMANCE_BIN=PATH)

Starts `conformance serve --host 127.0.0.1 --port 0` with a key of its own, makes every
Conversations call the SDK has, the Responses calls (create, streamed with the SDK's own
event parsing, retrieve, input items, delete, in a conversation), the Models calls (list,
retrieve) and embeddings (as floats, and as base64, which the SDK asks for by default and
decodes), and checks each answer twice: as the SDK hands it back, and as
the raw JSON validated strictly against the SDK's own types with no field the SDK does not know
(the SDK parses leniently, so a wrong shape would otherwise slip through). Prints one line per
check and `N passed, M failed`; exits 0 when all passed, 1 on a failure, 2 when it cannot start.
"""

import base64
import os
import queue
import re
import secrets
import struct
import subprocess
import sys
import threading
import time
import traceback

try:
    import openai
    import pydantic
    from openai.types.conversations import (
        Conversation,
        ConversationDeletedResource,
        ConversationItem,
        ConversationItemList,
        Message,
    )
    from openai.types.responses import (
        Response,
        ResponseInputFile,
        ResponseInputText,
        ResponseItemList,
    )
    from openai.types import CreateEmbeddingResponse, Model
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionDeleted,
        ChatCompletionStoreMessage,
    )
    from openai.types.shared import ErrorObject
except ImportError as error:
    sys.exit(f"error: {error}; install the SDK first: python3 -m pip install 'openai>=3.2.0,<4'")

READY_TIMEOUT_S = 30
READY_LINE = re.compile(r"listening on (http://\S+/v1)")


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


class Recorder:
    """Keeps every HTTP answer the SDK received, so its raw JSON can be checked too."""

    def __init__(self):
        self.answers = []

    def on_response(self, response):
        response.read()
        self.answers.append(response)

    def take(self):
        answers, self.answers = self.answers, []
        return answers


def unknown_fields(value, path):
    """The paths of fields the SDK's types do not declare (pydantic keeps them as extras)."""
    if isinstance(value, pydantic.BaseModel):
        for name in value.model_extra or {}:
            yield f"{path}.{name}"
        for name in type(value).model_fields:
            yield from unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            yield from unknown_fields(element, f"{path}[{index}]")


def check_shape(shape, body, what):
    try:
        value = pydantic.TypeAdapter(shape).validate_python(body, strict=True)
    except pydantic.ValidationError as error:
        # A union reports every member it tried; the deepest errors are the telling ones.
        errors = sorted(error.errors(), key=lambda e: -len(e["loc"]))
        shown = "\n     ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {str(e['input'])[:60]})"
            for e in errors[:4]
        )
        raise CheckFailed(
            f"{what} does not fit the SDK's {shape_name(shape)} "
            f"({len(errors)} errors, deepest first):\n     {shown}"
        )
    unknown = list(unknown_fields(value, "$"))
    expect(
        not unknown,
        f"{what} has fields the SDK's {shape_name(shape)} does not know: {', '.join(unknown)}",
    )


def shape_name(shape):
    return getattr(shape, "__name__", None) or str(shape)


class Session:
    """One SDK client on one server, the answers it got, and the results of the checks."""

    def __init__(self, base_url, key):
        self.base_url = base_url
        self.recorder = Recorder()
        self.client = self.make_client(key)
        self.results = []

    def make_client(self, key):
        http_client = openai.DefaultHttpxClient(
            trust_env=False,  # loopback only: no proxy from the environment
            event_hooks={"response": [self.recorder.on_response]},
        )
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=key,
            timeout=10,
            max_retries=0,
            http_client=http_client,
        )

    def call(self, shape, action):
        """Runs one SDK call; every answer it got must be a 200 of `shape`."""
        self.recorder.take()
        result = action()
        answers = self.recorder.take()
        expect(answers, "the SDK sent no request")
        for answer in answers:
            what = f"{answer.request.method} {answer.request.url.path} answer"
            expect_equal(answer.status_code, 200, f"{what} status")
            check_shape(shape, answer.json(), what)
        return result, answers

    def fails(self, error_type, action, status):
        """Runs one SDK call that must raise `error_type` from a well-formed error answer."""
        self.recorder.take()
        try:
            action()
        except openai.APIStatusError as error:
            expect(
                isinstance(error, error_type),
                f"expected {error_type.__name__}, got {type(error).__name__}: {error}",
            )
            expect_equal(error.status_code, status, "status")
            body = error.response.json()
            expect_equal(sorted(body), ["error"], "keys of the error answer")
            check_shape(ErrorObject, body["error"], "the error object")
            expect_equal(
                sorted(body["error"]),
                ["code", "message", "param", "type"],
                "keys of the error object",
            )
            return error
        raise CheckFailed(f"expected {error_type.__name__}, but the call succeeded")

    def check(self, name, run):
        try:
            run()
        except Exception as error:  # any failure of a check is reported, never raised
            if isinstance(error, CheckFailed):
                detail = str(error)
            elif isinstance(error, openai.APIError):  # the SDK's own, already telling
                detail = f"{type(error).__name__}: {error}"
            else:
                detail = traceback.format_exc()
            self.results.append(False)
            print(f"FAIL {name}\n     {detail.strip()}", flush=True)
        else:
            self.results.append(True)
            print(f"ok   {name}", flush=True)


def declared(model, **fields):
    """The `fields` this SDK version declares on `model`: older versions lack newer fields."""
    return {name: value for name, value in fields.items() if name in model.model_fields}


class State(dict):
    """What the checks hand on; a check that needs what an earlier one failed to make fails."""

    def __missing__(self, key):
        raise CheckFailed(f"needs the `{key}` an earlier check failed to make")


def message_text(item):
    expect(isinstance(item, Message), f"expected a Message, got {type(item).__name__}")
    expect_equal(len(item.content), 1, f"number of content parts of {item.id}")
    return item.content[0].text


def run_checks(session):
    client = session.client
    conversations = client.conversations
    items_api = conversations.items
    state = State()
    first_metadata = {"topic": "sdk", "owner": "conformance"}
    second_metadata = {"topic": "sdk-updated"}
    first_items = [
        {"type": "message", "role": "user", "content": "item 00"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "item 01", "annotations": []}],
        },
    ]

    def shape_check_can_fail():
        good = {"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}
        check_shape(Conversation, good, "a good Conversation")
        part = {"type": "input_text", "text": "x"}
        item = {"type": "message", "id": "msg_1", "status": "completed", "role": "user"}
        good_list = {"object": "list", "first_id": "msg_1", "last_id": "msg_1", "has_more": False}
        check_shape(
            ConversationItemList, {**good_list, "data": [{**item, "content": [part]}]}, "a list"
        )
        broken = [
            (Conversation, {**good, "created_at": "1"}, "a string created_at"),
            (Conversation, {**good, "object": "conversations"}, "a wrong object"),
            (Conversation, {**good, "deleted": True}, "an unknown field"),
            (Conversation, {k: v for k, v in good.items() if k != "id"}, "a missing id"),
            (
                ConversationItemList,
                {**good_list, "data": [{**item, "content": [{**part, "x": 1}]}]},
                "an unknown field in a content part",
            ),
        ]
        for shape, body, what in broken:
            try:
                check_shape(shape, body, what)
            except CheckFailed:
                continue
            raise CheckFailed(f"the strict shape check accepted {what}")

    def create():
        before = int(time.time())
        conversation, _ = session.call(
            Conversation,
            lambda: conversations.create(metadata=first_metadata, items=first_items),
        )
        expect(isinstance(conversation, Conversation), f"got {type(conversation).__name__}")
        expect(conversation.id.startswith("conv_"), f"id {conversation.id!r} lacks conv_")
        expect_equal(conversation.object, "conversation", "object")
        expect_equal(conversation.metadata, first_metadata, "metadata")
        expect(
            abs(conversation.created_at - before) < 86400,
            f"created_at {conversation.created_at} is not unix seconds of now ({before})",
        )
        state["conversation"] = conversation

    def update():
        conversation = state["conversation"]
        updated, _ = session.call(
            Conversation, lambda: conversations.update(conversation.id, metadata=second_metadata)
        )
        expect_equal(updated.id, conversation.id, "id")
        expect_equal(updated.created_at, conversation.created_at, "created_at")
        expect_equal(updated.metadata, second_metadata, "metadata (replaced)")
        state["updated"] = updated

    def retrieve():
        updated = state["updated"]
        retrieved, _ = session.call(Conversation, lambda: conversations.retrieve(updated.id))
        expect_equal(retrieved.model_dump(), updated.model_dump(), "retrieved conversation")

    def create_items_kept():
        conversation = state["conversation"]
        page, _ = session.call(
            ConversationItemList, lambda: items_api.list(conversation.id, order="asc")
        )
        texts = [message_text(item) for item in page.data]
        expect_equal(texts, ["item 00", "item 01"], "texts of the items given at create")
        expect_equal([item.role for item in page.data], ["user", "assistant"], "roles")
        for item in page.data:
            expect_equal(item.type, "message", f"type of {item.id}")
            expect_equal(item.status, "completed", f"status of {item.id}")
            expect(item.id.startswith("msg_"), f"item id {item.id!r} lacks msg_")
        state["ids"] = [item.id for item in page.data]

    def add_items(first, count):
        conversation = state["conversation"]
        texts = [f"item {n:02}" for n in range(first, first + count)]
        created, _ = session.call(
            ConversationItemList,
            lambda: items_api.create(
                conversation.id,
                items=[{"type": "message", "role": "user", "content": t} for t in texts],
            ),
        )
        expect(isinstance(created, ConversationItemList), f"got {type(created).__name__}")
        expect_equal(created.object, "list", "object")
        expect_equal([message_text(item) for item in created.data], texts, "created items")
        expect_equal(created.first_id, created.data[0].id, "first_id")
        expect_equal(created.last_id, created.data[-1].id, "last_id")
        expect_equal(created.has_more, False, "has_more")
        state["ids"] = state["ids"] + [item.id for item in created.data]

    def pages_through(order):
        conversation = state["conversation"]
        expected = state["ids"] if order == "asc" else state["ids"][::-1]
        expect_equal(len(expected), 25, "items in the conversation")

        def walk():
            return [item.id for item in items_api.list(conversation.id, limit=10, order=order)]

        ids, answers = session.call(ConversationItemList, walk)
        expect_equal(len(ids), len(expected), f"number of items in {order} order")
        expect_equal(ids, expected, f"ids in {order} order")
        bodies = [answer.json() for answer in answers]
        expect_equal([len(b["data"]) for b in bodies], [10, 10, 5], "page sizes")
        expect_equal([b["has_more"] for b in bodies], [True, True, False], "has_more per page")
        afters = [answer.request.url.params.get("after") for answer in answers]
        expect_equal(afters, [None, expected[9], expected[19]], "after sent per page")

    def list_defaults():
        conversation = state["conversation"]
        page, _ = session.call(ConversationItemList, lambda: items_api.list(conversation.id))
        expect_equal([item.id for item in page.data], state["ids"][::-1][:20], "first page")
        expect_equal(page.has_more, True, "has_more")
        expect(page.has_next_page(), "the SDK sees no next page")

    def list_include():
        conversation = state["conversation"]
        include = ["message.output_text.logprobs"]
        page, answers = session.call(
            ConversationItemList,
            lambda: items_api.list(conversation.id, include=include, limit=2, order="asc"),
        )
        expect_equal(answers[0].request.url.params.get_list("include[]"), include, "include[] sent")
        expect_equal([item.id for item in page.data], state["ids"][:2], "ids")

    def retrieve_item():
        conversation = state["conversation"]
        item_id = state["ids"][1]
        item, _ = session.call(
            ConversationItem, lambda: items_api.retrieve(item_id, conversation_id=conversation.id)
        )
        expect_equal(item.id, item_id, "id")
        expect_equal(item.role, "assistant", "role")
        expect_equal(message_text(item), "item 01", "text")

    def delete_item():
        conversation = state["conversation"]
        item_id = state["ids"][5]
        parent, _ = session.call(
            Conversation, lambda: items_api.delete(item_id, conversation_id=conversation.id)
        )
        expect(isinstance(parent, Conversation), f"got {type(parent).__name__}")
        expect_equal(parent.id, conversation.id, "id of the parent conversation")
        expect_equal(parent.metadata, second_metadata, "metadata of the parent conversation")
        session.fails(
            openai.NotFoundError,
            lambda: items_api.retrieve(item_id, conversation_id=conversation.id),
            404,
        )
        state["ids"].remove(item_id)
        remaining, _ = session.call(
            ConversationItemList,
            lambda: [item.id for item in items_api.list(conversation.id, order="asc", limit=100)],
        )
        expect_equal(remaining, state["ids"], "items after the delete")

    def unknown_item():
        conversation = state["conversation"]
        unknown = "msg_" + "0" * 48
        error = session.fails(
            openai.NotFoundError,
            lambda: items_api.retrieve(unknown, conversation_id=conversation.id),
            404,
        )
        expect_equal(
            error.body["message"], f"Item with id '{unknown}' not found in conversation.", "message"
        )

    def too_many_items():
        conversation = state["conversation"]
        error = session.fails(
            openai.BadRequestError,
            lambda: items_api.create(
                conversation.id,
                items=[{"role": "user", "content": "x"} for _ in range(21)],
            ),
            400,
        )
        expect_equal((error.code, error.param), ("array_above_max_length", "items"), "code, param")

    def every_part_kind():
        conversation = state["conversation"]
        url = "https://example.invalid/"  # stored as given, never fetched
        citations = [
            {"type": "url_citation", "url": url, "title": "t", "start_index": 0, "end_index": 3},
            {"type": "file_citation", "file_id": "file-1", "filename": "a.pdf", "index": 0},
            {
                "type": "container_file_citation",
                "container_id": "cntr_1",
                "file_id": "file-1",
                "filename": "a.pdf",
                "start_index": 0,
                "end_index": 3,
            },
            {"type": "file_path", "file_id": "file-1", "index": 0},
        ]
        logprob = {"token": "see", "logprob": -0.5, "bytes": [115, 101, 101]}
        sent = [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": "look",
                        **declared(ResponseInputText, prompt_cache_breakpoint={"mode": "explicit"}),
                    },
                    {"type": "input_image", "image_url": url + "a.png", "detail": "high"},
                    {"type": "input_image", "file_id": "file-2"},
                    {
                        "type": "input_file",
                        "file_id": "file-1",
                        "filename": "a.pdf",
                        **declared(ResponseInputFile, detail="low"),
                    },
                    {"type": "input_file", "file_url": url + "b.pdf"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "see",
                        "annotations": citations,
                        "logprobs": [{**logprob, "top_logprobs": [logprob]}],
                    },
                    {"type": "refusal", "refusal": "no"},
                ],
                **declared(Message, phase="final_answer"),
            },
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        ]
        created, _ = session.call(
            ConversationItemList, lambda: items_api.create(conversation.id, items=sent)
        )
        expect_equal(
            [(item.role, [part.type for part in item.content]) for item in created.data],
            [
                ("user", ["input_text", "input_image", "input_image", "input_file", "input_file"]),
                ("assistant", ["output_text", "refusal"]),
                ("system", ["input_text"]),
                ("developer", ["input_text"]),
            ],
            "roles and part types",
        )
        image = created.data[0].content[1]
        expect_equal((image.image_url, image.detail), (url + "a.png", "high"), "input_image")
        expect_equal(created.data[0].content[2].detail, "auto", "default input_image detail")
        text = created.data[1].content[0]
        expect_equal(
            [annotation.type for annotation in text.annotations],
            [citation["type"] for citation in citations],
            "annotation types",
        )
        expect_equal(text.logprobs[0].top_logprobs[0].token, "see", "top logprob token")
        if "phase" in Message.model_fields:
            expect_equal(created.data[1].phase, "final_answer", "phase")
        for item in created.data:
            retrieved, _ = session.call(
                ConversationItem,
                lambda: items_api.retrieve(item.id, conversation_id=conversation.id),
            )
            expect_equal(retrieved.model_dump(), item.model_dump(), f"retrieved {item.id}")
        state["ids"] = state["ids"] + [item.id for item in created.data]

    def update_to_null():
        scratch, _ = session.call(Conversation, lambda: conversations.create(metadata={"a": "1"}))
        state["scratch"] = scratch
        emptied, _ = session.call(
            Conversation, lambda: conversations.update(scratch.id, metadata=None)
        )
        expect_equal(emptied.metadata, {}, "metadata after metadata=None")
        retrieved, _ = session.call(Conversation, lambda: conversations.retrieve(scratch.id))
        expect_equal(retrieved.metadata, {}, "retrieved metadata after metadata=None")

    def bad_update(metadata, code, param):
        def run():
            scratch = state["scratch"]
            error = session.fails(
                openai.BadRequestError,
                lambda: conversations.update(scratch.id, metadata=metadata),
                400,
            )
            expect_equal((error.code, error.param), (code, param), "code, param")
            expect_equal(error.type, "invalid_request_error", "type")
            retrieved, _ = session.call(Conversation, lambda: conversations.retrieve(scratch.id))
            expect_equal(retrieved.metadata, {}, "metadata after the rejected update")

        return run

    def delete_conversation():
        conversation = state["conversation"]
        deleted, _ = session.call(
            ConversationDeletedResource, lambda: conversations.delete(conversation.id)
        )
        expect(isinstance(deleted, ConversationDeletedResource), f"got {type(deleted).__name__}")
        expect_equal(
            (deleted.id, deleted.object, deleted.deleted),
            (conversation.id, "conversation.deleted", True),
            "id, object, deleted",
        )
        session.fails(openai.NotFoundError, lambda: conversations.retrieve(conversation.id), 404)
        session.fails(openai.NotFoundError, lambda: items_api.list(conversation.id), 404)

    def unknown_conversation():
        unknown = "conv_" + "0" * 48
        error = session.fails(openai.NotFoundError, lambda: conversations.retrieve(unknown), 404)
        expect_equal(
            error.body["message"], f"Conversation with id '{unknown}' not found.", "message"
        )
        expect_equal((error.code, error.param), (None, None), "code, param")

    def missing_key():
        # The SDK's documented way to send a request without its Authorization header.
        error = session.fails(
            openai.AuthenticationError,
            lambda: conversations.retrieve(
                state["scratch"].id, extra_headers={"Authorization": openai.Omit()}
            ),
            401,
        )
        expect(
            "Authorization" not in error.response.request.headers,
            "the SDK sent an Authorization header",
        )

    def wrong_key():
        wrong = "sk-test-" + secrets.token_hex(16)
        with session.make_client(wrong) as other:
            error = session.fails(
                openai.AuthenticationError,
                lambda: other.conversations.retrieve(state["scratch"].id),
                401,
            )
        expect_equal(error.code, "invalid_api_key", "code")
        expect(wrong not in error.body["message"], "the error message shows the whole key")

    def delete_scratch():
        scratch = state["scratch"]
        session.call(ConversationDeletedResource, lambda: conversations.delete(scratch.id))

    checks = [
        ("the strict shape check rejects wrong shapes (self-check)", shape_check_can_fail),
        ("conversations.create with metadata and items", create),
        ("conversations.update replaces the metadata", update),
        ("conversations.retrieve answers what update answered", retrieve),
        ("conversations.items.list shows the items given at create, in order", create_items_kept),
        ("conversations.items.create adds 20 items", lambda: add_items(2, 20)),
        ("conversations.items.create adds 3 more (25 in all)", lambda: add_items(22, 3)),
        (
            "conversations.items.list(limit=10, order=asc) auto-pages 25 items",
            lambda: pages_through("asc"),
        ),
        (
            "conversations.items.list(limit=10, order=desc) auto-pages 25 items",
            lambda: pages_through("desc"),
        ),
        ("conversations.items.list defaults to 20 items, newest first", list_defaults),
        ("conversations.items.list sends include[] and accepts it", list_include),
        ("conversations.items.retrieve answers the item", retrieve_item),
        ("conversations.items.delete answers the parent Conversation", delete_item),
        ("conversations.items.retrieve of an unknown item raises NotFoundError", unknown_item),
        ("conversations.items.create of 21 items raises BadRequestError", too_many_items),
        ("every message role and content part kind fits the SDK's types", every_part_kind),
        ("conversations.update(metadata=None) empties the metadata", update_to_null),
        (
            "conversations.update with 17 pairs raises BadRequestError",
            bad_update(
                {f"k{n}": "v" for n in range(17)}, "object_above_max_properties", "metadata"
            ),
        ),
        (
            "conversations.update with a non-string value raises BadRequestError",
            bad_update({"n": 1}, "invalid_type", "metadata.n"),
        ),
        (
            "conversations.update with a 513-character value raises BadRequestError",
            bad_update({"v": "x" * 513}, "string_above_max_length", "metadata.v"),
        ),
        ("conversations.delete answers conversation.deleted; then 404", delete_conversation),
        ("conversations.retrieve of an unknown id raises NotFoundError", unknown_conversation),
        ("a request without a key raises AuthenticationError", missing_key),
        ("a request with a wrong key raises AuthenticationError", wrong_key),
        ("conversations.delete of the second conversation", delete_scratch),
    ]
    checks += response_checks(session, state)
    checks += model_and_embedding_checks(session)
    checks += chat_checks(session, state)
    for name, run in checks:
        session.check(name, run)


# The grammar of a streamed text response (specs/overlay.yaml, x-conformance-stream-grammar).
TEXT_STREAM = re.compile(
    r"response\.created response\.in_progress response\.output_item\.added "
    r"response\.content_part\.added (response\.output_text\.delta )+response\.output_text\.done "
    r"response\.content_part\.done response\.output_item\.done response\.completed"
)


def response_checks(session, state):
    """The Responses API: the reference server's model echoes its input."""
    client = session.client
    responses = client.responses
    model = "conformance-echo"

    def create():
        response, _ = session.call(
            Response,
            lambda: responses.create(model=model, input="hello from the sdk", max_output_tokens=16),
        )
        expect_equal(response.output_text, "hello from the sdk", "output_text")
        expect_equal(response.status, "completed", "status")
        usage = response.usage
        expect_equal(usage.total_tokens, usage.input_tokens + usage.output_tokens, "total_tokens")
        state["response"] = response

    def stream():
        session.recorder.take()
        with responses.create(
            model=model, input="stream these words", max_output_tokens=16, stream=True
        ) as events:
            received = list(events)
        kinds = " ".join(event.type for event in received)
        expect(TEXT_STREAM.fullmatch(kinds), f"the events do not follow the grammar: {kinds}")
        expect_equal(
            [event.sequence_number for event in received],
            list(range(len(received))),
            "sequence numbers",
        )
        for index, event in enumerate(received):
            unknown = list(unknown_fields(event, f"event {index}"))
            expect(not unknown, f"fields the SDK's event types do not know: {', '.join(unknown)}")
        deltas = "".join(e.delta for e in received if e.type == "response.output_text.delta")
        final = received[-1].response
        expect_equal(deltas, "stream these words", "the concatenated deltas")
        expect_equal(final.output_text, deltas, "the final output")
        expect_equal(
            {e.response.id for e in received if hasattr(e, "response")}, {final.id}, "response ids"
        )
        state["streamed"] = final

    def retrieve():
        streamed = state["streamed"]
        again, _ = session.call(Response, lambda: responses.retrieve(streamed.id))
        expect_equal(again.model_dump(), streamed.model_dump(), "the retrieved response")

    def input_items():
        response = state["response"]
        items, _ = session.call(ResponseItemList, lambda: responses.input_items.list(response.id))
        expect_equal(len(items.data), 1, "number of input items")
        expect_equal(items.data[0].content[0].text, "hello from the sdk", "the input text")

    def delete():
        response = state["response"]
        session.recorder.take()
        responses.delete(response.id)
        session.fails(openai.NotFoundError, lambda: responses.retrieve(response.id), 404)

    def in_conversation():
        conversation, _ = session.call(Conversation, lambda: client.conversations.create())
        try:
            response, _ = session.call(
                Response,
                lambda: responses.create(
                    model=model,
                    input="hello conversation",
                    conversation=conversation.id,
                    max_output_tokens=16,
                    store=False,
                ),
            )
            expect_equal(response.conversation.id, conversation.id, "conversation.id")
            items, _ = session.call(
                ConversationItemList,
                lambda: client.conversations.items.list(conversation.id, order="asc"),
            )
            expect_equal(len(items.data), 2, "number of conversation items")
            expect_equal(message_text(items.data[0]), "hello conversation", "the input item")
            expect_equal(items.data[1].id, response.output[0].id, "the output item")
        finally:
            client.conversations.delete(conversation.id)

    def out_of_range():
        error = session.fails(
            openai.BadRequestError,
            lambda: responses.create(model=model, input="x", temperature=2.5, store=False),
            400,
        )
        expect_equal(error.body["param"], "temperature", "param")

    return [
        ("responses.create answers the echo with usage that adds up", create),
        ("responses.create(stream=True) follows the grammar in the SDK's events", stream),
        ("responses.retrieve answers the streamed response as it ended", retrieve),
        ("responses.input_items.list lists the input", input_items),
        ("responses.delete; then retrieve raises NotFoundError", delete),
        ("responses.create(conversation=...) appends input and output to it", in_conversation),
        ("responses.create(temperature=2.5) raises BadRequestError naming it", out_of_range),
    ]


def model_and_embedding_checks(session):
    """The Models API and embeddings: the reference server's one model serves both."""
    client = session.client
    model = "conformance-echo"

    def list_models():
        # The SDK has no type for the list itself (it pages over `data`): its models are checked.
        page, answers = session.call(dict, lambda: client.models.list())
        ids = [m.id for m in page]
        expect(model in ids, f"{model} is not listed: {ids}")
        body = answers[-1].json()
        expect_equal(body.get("object"), "list", "object")
        for listed in body["data"]:
            check_shape(Model, listed, "a listed model")

    def retrieve_model():
        found, _ = session.call(Model, lambda: client.models.retrieve(model))
        expect_equal(found.id, model, "id")
        expect_equal(found.object, "model", "object")
        session.fails(
            openai.NotFoundError, lambda: client.models.retrieve("conformance-no-such-model"), 404
        )

    texts = ["the first text", "the second one"]

    def embed(**options):
        result, answers = session.call(
            CreateEmbeddingResponse,
            lambda: client.embeddings.create(model=model, input=texts, **options),
        )
        expect_equal([e.index for e in result.data], [0, 1], "indices")
        expect_equal(result.usage.total_tokens, result.usage.prompt_tokens, "total_tokens")
        return result, answers[-1].json()

    def floats_and_base64():
        floats, raw_floats = embed(encoding_format="float")
        expect(isinstance(raw_floats["data"][0]["embedding"], list), "float answers a list")
        # Without encoding_format the SDK asks for base64 and hands back the decoded floats.
        # The raw answer holds strings, which the SDK's type (lists of floats) does not
        # declare: it is checked strictly with each string decoded here, independently.
        session.recorder.take()
        decoded = client.embeddings.create(model=model, input=texts)
        raw = session.recorder.take()[-1].json()
        for item in raw["data"]:
            vector = item["embedding"]
            expect(isinstance(vector, str), "the SDK's default is base64")
            packed = base64.b64decode(vector, validate=True)
            item["embedding"] = list(struct.unpack(f"<{len(packed) // 4}f", packed))
        check_shape(CreateEmbeddingResponse, raw, "the base64 answer, decoded")
        expect_equal([e.index for e in decoded.data], [0, 1], "indices")
        for mine, sdks in zip(raw["data"], decoded.data):
            expect_equal(mine["embedding"], sdks.embedding, "the SDK's decoding")
        for a, b in zip(floats.data, decoded.data):
            expect_equal(len(b.embedding), len(a.embedding), f"dimension of input {a.index}")
            worst = max(abs(x - y) for x, y in zip(a.embedding, b.embedding))
            expect(worst <= 1e-6, f"base64 and float differ by {worst} in input {a.index}")

    def dimensions():
        short, _ = embed(encoding_format="float", dimensions=8)
        expect_equal(len(short.data[0].embedding), 8, "dimension")

    def empty_input():
        session.fails(
            openai.BadRequestError, lambda: client.embeddings.create(model=model, input=""), 400
        )

    return [
        ("models.list lists the model, each a Model", list_models),
        ("models.retrieve answers the model; an unknown one raises NotFoundError", retrieve_model),
        ("embeddings.create as floats and as the SDK's default base64 agree", floats_and_base64),
        ("embeddings.create(dimensions=8) gives 8 values", dimensions),
        ("embeddings.create(input='') raises BadRequestError", empty_input),
    ]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city.",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def chat_checks(session, state):
    """Chat Completions: the reference server's model echoes the messages' text."""
    client = session.client
    chat = client.chat.completions
    model = "conformance-echo"
    hello = [{"role": "user", "content": "hello from the sdk"}]

    def raw_chunks(answer):
        """The chunks of a raw event-stream answer, `[DONE]` checked to end it."""
        frames = [f[len("data: "):] for f in answer.text.split("\n\n") if f.startswith("data: ")]
        expect_equal(frames[-1], "[DONE]", "the last frame")
        import json

        chunks = [json.loads(f) for f in frames[:-1]]
        for index, chunk in enumerate(chunks):
            check_shape(ChatCompletionChunk, chunk, f"chunk {index}")
        return chunks

    def create():
        completion, _ = session.call(
            ChatCompletion,
            lambda: chat.create(model=model, messages=hello, n=2, max_completion_tokens=16),
        )
        expect_equal([c.index for c in completion.choices], [0, 1], "choice indexes")
        expect_equal(completion.choices[0].message.content, "hello from the sdk", "content")
        expect_equal(completion.choices[0].finish_reason, "stop", "finish_reason")
        usage = completion.usage
        expect_equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, "total")

    def cut():
        completion, _ = session.call(
            ChatCompletion, lambda: chat.create(model=model, messages=hello, max_tokens=1)
        )
        expect_equal(completion.choices[0].finish_reason, "length", "finish_reason")
        expect_equal(completion.choices[0].message.content, "hello", "content")

    def stream_with_usage():
        session.recorder.take()
        with chat.stream(
            model=model, messages=hello, stream_options={"include_usage": True}
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
        (answer,) = session.recorder.take()
        chunks = raw_chunks(answer)
        expect_equal(chunks[-1]["choices"], [], "the usage chunk's choices")
        expect(all(c["usage"] is None for c in chunks[:-1]), "usage before the last chunk")
        expect_equal({c["id"] for c in chunks}, {final.id}, "chunk ids")
        expect("content.done" in kinds, f"no content.done event: {kinds}")
        expect_equal(final.choices[0].message.content, "hello from the sdk", "accumulated content")
        expect_equal(final.usage.total_tokens, final.usage.prompt_tokens + final.usage.completion_tokens, "total")

    def stream_without_usage():
        session.recorder.take()
        with chat.create(model=model, messages=hello, stream=True) as stream:
            received = list(stream)
        (answer,) = session.recorder.take()
        raw_chunks(answer)
        expect(all(chunk.usage is None for chunk in received), "a usage nobody asked for")
        finishes = [c.finish_reason for chunk in received for c in chunk.choices if c.finish_reason]
        expect_equal(finishes, ["stop"], "non-null finish reasons")

    def tool_stream():
        session.recorder.take()
        with chat.stream(
            model=model,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[WEATHER_TOOL],
            tool_choice="required",
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
        (answer,) = session.recorder.take()
        raw_chunks(answer)
        expect("tool_calls.function.arguments.done" in kinds, f"no arguments.done event: {kinds}")
        choice = final.choices[0]
        expect_equal(choice.finish_reason, "tool_calls", "finish_reason")
        (call,) = choice.message.tool_calls
        expect_equal(call.function.name, "get_weather", "the called function")
        expect_equal(call.function.parsed_arguments, {"city": "conformance"}, "parsed arguments")

    def named_tool():
        completion, _ = session.call(
            ChatCompletion,
            lambda: chat.create(
                model=model,
                messages=hello,
                tools=[WEATHER_TOOL],
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
            ),
        )
        (call,) = completion.choices[0].message.tool_calls
        expect_equal(call.function.name, "get_weather", "the called function")

    def stored():
        completion, _ = session.call(
            ChatCompletion,
            lambda: chat.create(model=model, messages=hello, store=True, metadata={"sdk": "yes"}),
        )
        state["stored"] = completion
        again, _ = session.call(ChatCompletion, lambda: chat.retrieve(completion.id))
        expect_equal(again.id, completion.id, "retrieved id")
        expect_equal(again.choices, completion.choices, "retrieved choices")
        updated, _ = session.call(
            ChatCompletion, lambda: chat.update(completion.id, metadata={"sdk": "updated"})
        )
        expect_equal(updated.metadata, {"sdk": "updated"}, "updated metadata")
        session.recorder.take()
        listed = list(chat.list(metadata={"sdk": "updated"}))
        for answer in session.recorder.take():
            for item in answer.json()["data"]:
                check_shape(ChatCompletion, item, "a listed completion")
        expect_equal([c.id for c in listed], [completion.id], "the filtered list")
        # Not checked strictly: the SDK's ChatCompletionStoreMessage, like the spec, allows only
        # `role: "assistant"`, but the stored messages are the request's (specs/overlay.yaml).
        messages = list(chat.messages.list(completion.id))
        expect(all(isinstance(m, ChatCompletionStoreMessage) for m in messages), "message type")
        expect_equal([m.id for m in messages], [f"{completion.id}-0"], "message ids")
        expect_equal([(m.role, m.content) for m in messages], [("user", "hello from the sdk")], "messages")

    def delete_stored():
        completion = state["stored"]
        deleted, _ = session.call(ChatCompletionDeleted, lambda: chat.delete(completion.id))
        expect_equal((deleted.object, deleted.deleted), ("chat.completion.deleted", True), "deleted")
        session.fails(openai.NotFoundError, lambda: chat.retrieve(completion.id), 404)

    def out_of_range():
        error = session.fails(
            openai.BadRequestError, lambda: chat.create(model=model, messages=hello, n=129), 400
        )
        expect_equal(error.body["param"], "n", "param")

    return [
        ("chat.completions.create answers n choices with usage that adds up", create),
        ("chat.completions.create(max_tokens=1) ends with finish_reason length", cut),
        ("chat.completions.stream(include_usage) accumulates text and usage", stream_with_usage),
        ("chat.completions.create(stream=True) without usage, one finish reason", stream_without_usage),
        ("chat.completions.stream accumulates a required tool call", tool_stream),
        ("chat.completions.create with a named tool calls it", named_tool),
        ("chat.completions retrieve, update, list, messages of a stored one", stored),
        ("chat.completions.delete; then retrieve raises NotFoundError", delete_stored),
        ("chat.completions.create(n=129) raises BadRequestError naming it", out_of_range),
    ]


def start_server(binary, key):
    environment = dict(os.environ, CONFORMANCE_SERVE_API_KEY=key)
    server = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )
    lines = queue.Queue()

    def forward(stream):
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=forward, args=(server.stdout,), daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return server, None, f"no `listening on` line within {READY_TIMEOUT_S} s"
        if line is None:
            server.wait(timeout=5)
            return server, None, f"it exited ({server.returncode}): {server.stderr.read().strip()}"
        found = READY_LINE.search(line)
        if found:
            return server, found.group(1), None


def stop_server(server):
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CONFORMANCE_BIN", "")
    if not binary or not os.access(binary, os.X_OK):
        print(
            f"error: no runnable conformance binary at {binary!r}: build it (`cargo build`) and "
            "pass its path, e.g. `python3 tests/sdk/openai_sdk.py target/debug/conformance`",
            file=sys.stderr,
        )
        return 2
    print(f"openai {openai.__version__}, pydantic {pydantic.VERSION}", flush=True)
    key = "sk-test-" + secrets.token_hex(16)
    server, base_url, problem = start_server(binary, key)
    try:
        if problem:
            print(f"error: cannot start `{binary} serve`: {problem}", file=sys.stderr)
            return 2
        print(f"reference server at {base_url}", flush=True)
        session = Session(base_url, key)
        run_checks(session)
    finally:
        stop_server(server)
    passed = session.results.count(True)
    failed = session.results.count(False)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
