//! A text column's values laid end to end, the way they cross the boundary (contract
//! 0.2.0): one buffer and where each value starts, so a column of a million values is
//! two allocations, not a million.

use std::ops::Index;

/// Text values, one per row. Index it (`texts[i]`), iterate it, build it by collecting
/// strings or with [`Texts::push`].
#[derive(Clone, PartialEq, Eq)]
pub struct Texts {
    data: String,
    /// One more than the values: value i is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
}

impl Texts {
    pub fn new() -> Texts {
        Texts::with_capacity(0, 0)
    }

    /// Room for `values` values of `bytes` bytes in all.
    pub fn with_capacity(values: usize, bytes: usize) -> Texts {
        let mut offsets = Vec::with_capacity(values + 1);
        offsets.push(0);
        Texts {
            data: String::with_capacity(bytes),
            offsets,
        }
    }

    /// Adds a value at the end.
    ///
    /// # Panics
    /// When the column would hold more than 4 GiB of text, far beyond a block's memory.
    pub fn push(&mut self, value: &str) {
        self.data.push_str(value);
        let end = u32::try_from(self.data.len()).expect("at most 4 GiB of text per column");
        self.offsets.push(end);
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.data.get(start as usize..end as usize)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.offsets
            .windows(2)
            .map(|w| &self.data[w[0] as usize..w[1] as usize])
    }

    /// The values as the contract carries them: their bytes, and their offsets.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<u32>) {
        (self.data.into_bytes(), self.offsets)
    }

    /// Values from the contract's parts, after the checks the host's own reading makes:
    /// offsets from 0 to the end of the data, never decreasing, each on a character
    /// boundary of UTF-8 text.
    pub(crate) fn from_parts(data: Vec<u8>, offsets: Vec<u32>) -> Result<Texts, String> {
        let data = String::from_utf8(data).map_err(|e| format!("text is not UTF-8: {e}"))?;
        let ends_well =
            offsets.first() == Some(&0) && offsets.last().map(|&o| o as usize) == Some(data.len());
        if !ends_well
            || offsets
                .windows(2)
                .any(|w| w[0] > w[1] || !data.is_char_boundary(w[1] as usize))
        {
            return Err("text offsets do not fit the text".into());
        }
        Ok(Texts { data, offsets })
    }
}

impl Default for Texts {
    fn default() -> Texts {
        Texts::new()
    }
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Index<usize> for Texts {
    type Output = str;

    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(s) => s,
            None => panic!("text value {i} of {}", self.len()),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Texts {
    fn from_iter<I: IntoIterator<Item = S>>(values: I) -> Texts {
        let values = values.into_iter();
        let mut texts = Texts::with_capacity(values.size_hint().0, 0);
        for v in values {
            texts.push(v.as_ref());
        }
        texts
    }
}

impl<S: AsRef<str>> From<Vec<S>> for Texts {
    fn from(values: Vec<S>) -> Texts {
        values.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_as_they_went_in() {
        let t: Texts = ["West", "", "Zürich"].into_iter().collect();
        assert_eq!(t.len(), 3);
        assert_eq!(&t[2], "Zürich");
        assert_eq!(t.get(3), None);
        assert_eq!(t.iter().collect::<Vec<_>>(), ["West", "", "Zürich"]);
        let (data, offsets) = t.clone().into_parts();
        assert_eq!(offsets, [0, 4, 4, 11]);
        assert_eq!(Texts::from_parts(data, offsets).unwrap(), t);
    }

    #[test]
    fn parts_that_do_not_fit_are_refused() {
        let ok = || "Zürich".as_bytes().to_vec();
        // Inside the ü, past the end, not from 0, decreasing, not UTF-8.
        assert!(Texts::from_parts(ok(), vec![0, 2, 7]).is_err());
        assert!(Texts::from_parts(ok(), vec![0, 8]).is_err());
        assert!(Texts::from_parts(ok(), vec![1, 7]).is_err());
        assert!(Texts::from_parts(ok(), vec![0, 3, 1, 7]).is_err());
        assert!(Texts::from_parts(vec![0xff], vec![0, 1]).is_err());
        assert!(Texts::from_parts(ok(), vec![]).is_err());
        assert!(Texts::from_parts(ok(), vec![0, 3, 7]).is_ok());
    }
}
