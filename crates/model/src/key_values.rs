use bytes::Bytes;

/// An ordered list of key → value pairs with map-like access.
///
/// Events carry few keys (a handful of tags, a few parsed fields), so a vector with linear lookup is
/// faster and smaller than a hash map, and it keeps the order in which a parser produced the fields,
/// which users expect to see in the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues<V = Bytes> {
    entries: Vec<(Bytes, V)>,
}

impl<V> KeyValues<V> {
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&V> {
        let key = key.as_ref();
        self.entries.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: impl AsRef<[u8]>) -> Option<&mut V> {
        let key = key.as_ref();
        self.entries.iter_mut().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v)
    }

    pub fn contains(&self, key: impl AsRef<[u8]>) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, replacing an existing value in place (its position is kept).
    pub fn insert(&mut self, key: impl Into<Bytes>, value: impl Into<V>) {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Appends without checking for an existing key: for producers that know keys are unique.
    pub fn push(&mut self, key: impl Into<Bytes>, value: impl Into<V>) {
        self.entries.push((key.into(), value.into()));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Option<V> {
        let key = key.as_ref();
        let pos = self.entries.iter().position(|(k, _)| k.as_ref() == key)?;
        Some(self.entries.remove(pos).1)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Bytes, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&Bytes, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Bytes> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn retain(&mut self, mut f: impl FnMut(&Bytes, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| f(k, v));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl KeyValues<Bytes> {
    /// The value as text; invalid UTF-8 is replaced, never an error.
    pub fn get_str(&self, key: impl AsRef<[u8]>) -> Option<std::borrow::Cow<'_, str>> {
        self.get(key).map(|v| String::from_utf8_lossy(v))
    }

    /// Bytes held by keys and values, the measure used for batch sizes.
    pub fn byte_size(&self) -> usize {
        self.entries.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl<K: Into<Bytes>, V, W: Into<V>> FromIterator<(K, W)> for KeyValues<V> {
    fn from_iter<T: IntoIterator<Item = (K, W)>>(iter: T) -> Self {
        let mut kv = KeyValues::new();
        for (k, v) in iter {
            kv.insert(k, v);
        }
        kv
    }
}

impl<V> IntoIterator for KeyValues<V> {
    type Item = (Bytes, V);
    type IntoIter = std::vec::IntoIter<(Bytes, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a KeyValues<V> {
    type Item = &'a (Bytes, V);
    type IntoIter = std::slice::Iter<'a, (Bytes, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut kv: KeyValues = KeyValues::new();
        kv.insert("a", "1");
        kv.insert("b", "2");
        kv.insert("a", "3");
        let pairs: Vec<_> = kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(
            pairs,
            vec![
                (Bytes::from("a"), Bytes::from("3")),
                (Bytes::from("b"), Bytes::from("2"))
            ]
        );
        assert_eq!(kv.remove("a"), Some(Bytes::from("3")));
        assert_eq!(kv.len(), 1);
        assert_eq!(kv.get_str("b").as_deref(), Some("2"));
        assert_eq!(kv.byte_size(), 2);
    }
}
