//! The in-memory state: conversations and their items.
//!
//! The map is split into shards, each behind its own `std::sync::RwLock`, so requests on
//! different conversations rarely wait for each other. No lock is held across an `.await`, and
//! answers are kept pre-serialised (`Bytes`) so that a read clones a reference count, not the
//! data. Every write to one conversation happens under its shard's write lock, so concurrent
//! updates are serialised: none is lost, and the stored metadata is always one whole write.

use std::collections::hash_map::{Entry, HashMap};
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};

use super::deviation::{Deviation, Deviations};
use super::items::NewMessage;

const SHARDS: usize = 64;

/// A stored item: its id and its JSON.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) id: String,
    pub(crate) json: Bytes,
}

/// How much the store holds at most; past a limit new data is refused, nothing is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub max_conversations: usize,
    pub max_items_per_conversation: usize,
    /// The stored JSON of every conversation and item, in bytes.
    pub max_stored_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_conversations: 10_000,
            max_items_per_conversation: 1_000,
            max_stored_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Which limit refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Conversations(usize),
    Items(usize),
    Bytes(usize),
}

#[derive(Debug)]
struct Conversation {
    created_at: u64,
    /// Bytes of its JSON and its items' JSON, as counted in [`Store::stored_bytes`].
    bytes: usize,
    /// The answer of retrieve: `{"id", "object", "created_at", "metadata"}`.
    json: Bytes,
    /// Items by insertion sequence number, oldest first.
    items: BTreeMap<u64, Item>,
    /// Item id -> sequence number.
    index: HashMap<String, u64>,
    next_seq: u64,
}

impl Conversation {
    fn new(created_at: u64, json: Bytes, items: Vec<Item>) -> Self {
        let bytes = json.len() + items.iter().map(|i| i.json.len()).sum::<usize>();
        let mut conversation = Self {
            created_at,
            bytes,
            json,
            items: BTreeMap::new(),
            index: HashMap::with_capacity(items.len()),
            next_seq: 0,
        };
        for item in items {
            conversation.push(item);
        }
        conversation
    }

    fn push(&mut self, item: Item) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(item.id.clone(), seq);
        self.items.insert(seq, item);
    }
}

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    Conversation,
    Item,
}

/// One page of a conversation's items.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) items: Vec<Item>,
    pub(crate) has_more: bool,
}

#[derive(Debug)]
pub(crate) struct Store {
    shards: Box<[RwLock<HashMap<String, Conversation>>]>,
    hasher: RandomState,
    deviations: Deviations,
    /// Ids of deleted conversations, kept only for [`Deviation::SecondDeleteSucceeds`].
    deleted: Mutex<HashSet<String>>,
    limits: StoreLimits,
    conversations: AtomicUsize,
    stored_bytes: AtomicUsize,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(Deviations::default(), StoreLimits::default())
    }
}

impl Store {
    pub(crate) fn new(deviations: Deviations, limits: StoreLimits) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            deviations,
            deleted: Mutex::default(),
            limits,
            conversations: AtomicUsize::new(0),
            stored_bytes: AtomicUsize::new(0),
        }
    }

    /// Counts `bytes` more, unless that passes the limit.
    fn reserve_bytes(&self, bytes: usize) -> Result<(), Full> {
        let before = self.stored_bytes.fetch_add(bytes, Ordering::SeqCst);
        if before.saturating_add(bytes) > self.limits.max_stored_bytes {
            self.stored_bytes.fetch_sub(bytes, Ordering::SeqCst);
            return Err(Full::Bytes(self.limits.max_stored_bytes));
        }
        Ok(())
    }

    fn release_bytes(&self, bytes: usize) {
        self.stored_bytes.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Counts one conversation of `bytes` more, unless that passes a limit.
    fn reserve_conversation(&self, bytes: usize) -> Result<(), Full> {
        let before = self.conversations.fetch_add(1, Ordering::SeqCst);
        if before >= self.limits.max_conversations {
            self.conversations.fetch_sub(1, Ordering::SeqCst);
            return Err(Full::Conversations(self.limits.max_conversations));
        }
        self.reserve_bytes(bytes).inspect_err(|_| {
            self.conversations.fetch_sub(1, Ordering::SeqCst);
        })
    }

    fn deviates(&self, d: Deviation) -> bool {
        self.deviations.deviates(d)
    }

    fn shard(&self, id: &str) -> &RwLock<HashMap<String, Conversation>> {
        // The modulo keeps the index in range, so this never panics.
        let index = (self.hasher.hash_one(id) % SHARDS as u64) as usize;
        &self.shards[index]
    }

    fn read(&self, id: &str) -> RwLockReadGuard<'_, HashMap<String, Conversation>> {
        self.shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, id: &str) -> RwLockWriteGuard<'_, HashMap<String, Conversation>> {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a conversation holding `messages` in order; answers its JSON.
    pub(crate) fn create(
        &self,
        metadata: &Map<String, Value>,
        messages: &[NewMessage],
    ) -> Result<Bytes, Full> {
        if messages.len() > self.limits.max_items_per_conversation {
            return Err(Full::Items(self.limits.max_items_per_conversation));
        }
        let created_at = if self.deviates(Deviation::CreatedAtMilliseconds) {
            now() * 1000
        } else {
            now()
        };
        let items: Vec<Item> = messages.iter().map(|m| self.new_item(m)).collect();
        let prefix = if self.deviates(Deviation::IdsWithoutPrefix) {
            ""
        } else {
            "conv_"
        };
        loop {
            let id = random_id(prefix);
            let json = if self.deviates(Deviation::CreateMetadataNull) && metadata.is_empty() {
                let null = serde_json::json!({
                    "id": id, "object": "conversation", "created_at": created_at, "metadata": null,
                });
                Bytes::from(null.to_string())
            } else {
                conversation_json(&id, created_at, metadata)
            };
            let mut shard = self.write(&id);
            // 192 random bits: a clash is practically impossible, but never overwrite.
            if let Entry::Vacant(slot) = shard.entry(id) {
                let conversation = Conversation::new(created_at, json.clone(), items);
                self.reserve_conversation(conversation.bytes)?;
                slot.insert(conversation);
                return Ok(json);
            }
        }
    }

    /// Creates an empty conversation under `id` unless there is one
    /// ([`Deviation::UnknownIdsCreated`]).
    pub(crate) fn create_if_missing(&self, id: &str) {
        if let Entry::Vacant(slot) = self.write(id).entry(id.to_owned()) {
            let created_at = now();
            let json = conversation_json(id, created_at, &Map::new());
            let conversation = Conversation::new(created_at, json, Vec::new());
            if self.reserve_conversation(conversation.bytes).is_ok() {
                slot.insert(conversation);
            }
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Bytes> {
        self.read(id).get(id).map(|c| c.json.clone())
    }

    /// Replaces the metadata; answers the updated JSON (`None`: no such conversation).
    pub(crate) fn update(
        &self,
        id: &str,
        metadata: &Map<String, Value>,
    ) -> Option<Result<Bytes, Full>> {
        let mut shard = self.write(id);
        let conversation = shard.get_mut(id)?;
        let mut merged;
        let metadata = if self.deviates(Deviation::UpdateMergesMetadata) && !metadata.is_empty() {
            merged = stored_metadata(&conversation.json);
            merged.extend(metadata.clone());
            &merged
        } else {
            metadata
        };
        if self.deviates(Deviation::UpdateChangesCreatedAt) {
            conversation.created_at = now().max(conversation.created_at + 1);
        }
        let json = conversation_json(id, conversation.created_at, metadata);
        if !self.deviates(Deviation::UpdateNotPersisted) {
            let (old, new) = (conversation.json.len(), json.len());
            if new > old {
                if let Err(full) = self.reserve_bytes(new - old) {
                    return Some(Err(full));
                }
            } else {
                self.release_bytes(old - new);
            }
            conversation.bytes = conversation.bytes + new - old;
            conversation.json = json.clone();
        }
        if self.deviates(Deviation::UpdateChangesId) {
            let other_id = random_id("conv_");
            return Some(Ok(conversation_json(
                &other_id,
                conversation.created_at,
                metadata,
            )));
        }
        Some(Ok(json))
    }

    /// Removes the conversation and its items; false when there was none.
    pub(crate) fn delete(&self, id: &str) -> bool {
        if self.deviates(Deviation::DeleteKeepsConversation) {
            return self.read(id).contains_key(id);
        }
        // Dropping the items happens outside the lock.
        let removed = self.write(id).remove(id);
        if let Some(conversation) = &removed {
            self.conversations.fetch_sub(1, Ordering::SeqCst);
            self.release_bytes(conversation.bytes);
        }
        let removed = removed.is_some();
        if self.deviates(Deviation::SecondDeleteSucceeds) {
            let mut deleted = self.deleted.lock().unwrap_or_else(PoisonError::into_inner);
            if removed {
                deleted.insert(id.to_owned());
            }
            return removed || deleted.contains(id);
        }
        removed
    }

    /// Appends `messages` in order; answers the stored items (`None`: no such conversation).
    pub(crate) fn add_items(
        &self,
        id: &str,
        messages: &[NewMessage],
    ) -> Option<Result<Vec<Item>, Full>> {
        let items: Vec<Item> = messages.iter().map(|m| self.new_item(m)).collect();
        Some(self.add_raw_items(id, items.clone())?.map(|()| items))
    }

    /// Appends items made elsewhere (a response's input and output), under their own ids.
    pub(crate) fn add_raw_items(&self, id: &str, items: Vec<Item>) -> Option<Result<(), Full>> {
        let bytes: usize = items.iter().map(|i| i.json.len()).sum();
        let mut shard = self.write(id);
        let conversation = shard.get_mut(id)?;
        if conversation.items.len() + items.len() > self.limits.max_items_per_conversation {
            return Some(Err(Full::Items(self.limits.max_items_per_conversation)));
        }
        if let Err(full) = self.reserve_bytes(bytes) {
            return Some(Err(full));
        }
        conversation.bytes += bytes;
        for item in items {
            conversation.push(item);
        }
        Some(Ok(()))
    }

    /// Up to `limit` items after `after` (exclusive) in the given order.
    pub(crate) fn list(
        &self,
        id: &str,
        limit: usize,
        descending: bool,
        after: Option<&str>,
    ) -> Result<Page, Missing> {
        let shard = self.read(id);
        let conversation = shard.get(id).ok_or(Missing::Conversation)?;
        let start = match after {
            Some(after) => Bound::Excluded(*conversation.index.get(after).ok_or(Missing::Item)?),
            None => Bound::Unbounded,
        };
        let start = if self.deviates(Deviation::AfterIgnored) {
            Bound::Unbounded
        } else {
            start
        };
        let mut items = Vec::with_capacity(limit.min(conversation.items.len()));
        let has_more = if descending {
            let mut iter = conversation.items.range((Bound::Unbounded, start)).rev();
            items.extend(iter.by_ref().take(limit).map(|(_, item)| item.clone()));
            iter.next().is_some()
        } else {
            let mut iter = conversation.items.range((start, Bound::Unbounded));
            items.extend(iter.by_ref().take(limit).map(|(_, item)| item.clone()));
            iter.next().is_some()
        };
        let has_more = has_more && !self.deviates(Deviation::HasMoreAlwaysFalse);
        Ok(Page { items, has_more })
    }

    pub(crate) fn get_item(&self, id: &str, item_id: &str) -> Result<Bytes, Missing> {
        let shard = self.read(id);
        let conversation = shard.get(id).ok_or(Missing::Conversation)?;
        conversation
            .index
            .get(item_id)
            .and_then(|seq| conversation.items.get(seq))
            .map(|item| item.json.clone())
            .ok_or(Missing::Item)
    }

    /// The conversation that holds `item_id`, if any.
    pub(crate) fn holder_of(&self, item_id: &str) -> Option<String> {
        self.shards.iter().find_map(|shard| {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            shard
                .iter()
                .find(|(_, c)| c.index.contains_key(item_id))
                .map(|(id, _)| id.clone())
        })
    }

    /// Removes one item; answers the conversation's JSON.
    pub(crate) fn delete_item(&self, id: &str, item_id: &str) -> Result<Bytes, Missing> {
        let mut shard = self.write(id);
        let conversation = shard.get_mut(id).ok_or(Missing::Conversation)?;
        let seq = conversation.index.remove(item_id).ok_or(Missing::Item)?;
        if let Some(item) = conversation.items.remove(&seq) {
            conversation.bytes -= item.json.len();
            self.release_bytes(item.json.len());
        }
        Ok(conversation.json.clone())
    }

    fn new_item(&self, message: &NewMessage) -> Item {
        let id = random_id("msg_");
        let status = if self.deviates(Deviation::ItemStatusNull) {
            Value::Null
        } else {
            Value::from("completed")
        };
        let json = Bytes::from(message.to_json(&id, status));
        Item { id, json }
    }
}

/// The metadata inside a stored conversation's JSON.
fn stored_metadata(json: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(mut conversation)) => match conversation.remove("metadata") {
            Some(Value::Object(metadata)) => metadata,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// `prefix` followed by 48 lowercase hex digits (192 random bits).
pub(crate) fn random_id(prefix: &str) -> String {
    use std::fmt::Write;
    let bytes: [u8; 24] = rand::rng().random();
    let mut id = String::with_capacity(prefix.len() + 48);
    id.push_str(prefix);
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    id
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Serialize)]
struct ConversationJson<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    metadata: &'a Map<String, Value>,
}

fn conversation_json(id: &str, created_at: u64, metadata: &Map<String, Value>) -> Bytes {
    let json = ConversationJson {
        id,
        object: "conversation",
        created_at,
        metadata,
    };
    Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::items::parse_items;
    use serde_json::json;

    fn messages(n: usize) -> Vec<NewMessage> {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"role": "user", "content": format!("m{i}")}))
            .collect();
        parse_items(Value::Array(items), true, Deviations::default()).expect("valid")
    }

    fn id_of(json: &Bytes) -> String {
        let value: Value = serde_json::from_slice(json).expect("json");
        value["id"].as_str().expect("id").to_owned()
    }

    #[test]
    fn ids_are_prefixed_lowercase_hex() {
        let id = random_id("conv_");
        assert_eq!(id.len(), 53);
        assert!(id[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(id, random_id("conv_"));
    }

    #[test]
    fn pages_walk_both_ways() {
        let store = Store::default();
        let id = id_of(&store.create(&Map::new(), &messages(5)).unwrap());
        let all = store.list(&id, 100, false, None).expect("list");
        let ids: Vec<String> = all.items.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids.len(), 5);
        assert!(!all.has_more);

        let page = store.list(&id, 2, true, None).expect("desc");
        assert_eq!(page.items[0].id, ids[4]);
        assert_eq!(page.items[1].id, ids[3]);
        assert!(page.has_more);
        let page = store.list(&id, 3, true, Some(&ids[3])).expect("desc after");
        assert_eq!(
            page.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
            [&ids[2], &ids[1], &ids[0]]
        );
        assert!(!page.has_more);
        let page = store.list(&id, 2, false, Some(&ids[2])).expect("asc after");
        assert_eq!(
            page.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
            [&ids[3], &ids[4]]
        );
        assert!(!page.has_more);
        assert_eq!(
            store.list(&id, 2, false, Some("msg_nope")).err(),
            Some(Missing::Item)
        );
        assert_eq!(
            store.list("conv_nope", 2, false, None).err(),
            Some(Missing::Conversation)
        );
    }

    #[test]
    fn past_a_limit_new_data_is_refused_and_deleting_frees_room() {
        let limits = StoreLimits {
            max_conversations: 2,
            max_items_per_conversation: 3,
            max_stored_bytes: 2_000,
        };
        let store = Store::new(Deviations::default(), limits);
        let a = id_of(&store.create(&Map::new(), &messages(2)).unwrap());
        let b = id_of(&store.create(&Map::new(), &[]).unwrap());
        assert_eq!(
            store.create(&Map::new(), &[]).err(),
            Some(Full::Conversations(2))
        );
        assert_eq!(
            store.add_items(&a, &messages(2)).unwrap().err(),
            Some(Full::Items(3))
        );
        assert!(store.add_items(&a, &messages(1)).unwrap().is_ok());
        let big: Map<String, Value> = (0..8)
            .map(|i| (format!("k{i}"), Value::from("v".repeat(200))))
            .collect();
        assert_eq!(
            store.update(&b, &big).unwrap().err(),
            Some(Full::Bytes(2_000))
        );
        assert!(store.delete(&a));
        assert!(store.update(&b, &big).unwrap().is_ok());
        assert!(store.create(&Map::new(), &[]).is_ok());
        assert!(store.delete(&b));
    }

    /// The ids of a conversation's first ten items, in order.
    fn item_ids(store: &Store, id: &str) -> Vec<String> {
        let page = store.list(id, 10, false, None).expect("list");
        page.items.into_iter().map(|i| i.id).collect()
    }

    #[test]
    fn deleting_an_item_keeps_the_others_in_order() {
        let store = Store::default();
        let id = id_of(&store.create(&Map::new(), &messages(3)).unwrap());
        let ids = item_ids(&store, &id);
        assert!(store.delete_item(&id, &ids[1]).is_ok());
        assert_eq!(store.get_item(&id, &ids[1]).err(), Some(Missing::Item));
        assert_eq!(store.delete_item(&id, &ids[1]).err(), Some(Missing::Item));
        let left = item_ids(&store, &id);
        assert_eq!(left, [ids[0].clone(), ids[2].clone()]);
        assert!(store.delete(&id));
        assert!(!store.delete(&id));
        assert_eq!(
            store.get_item(&id, &ids[0]).err(),
            Some(Missing::Conversation)
        );
    }
}
