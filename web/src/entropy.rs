//! Seeds drawn from the browser's entropy (Web Crypto, through getrandom's JS backend): a first
//! visit without `?seed=` and "new seed" each start a run nobody has seen, and the seed goes into
//! the URL, so the run is still reproducible from its link.

/// A fresh seed below 2^32 (short enough to read in a URL).
pub(crate) fn seed() -> u64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from(u32::from_le_bytes(bytes)),
        // No Web Crypto (a very old browser): the page clock still gives a seed that differs
        // from visit to visit.
        Err(_) => web_sys::window()
            .and_then(|w| w.performance())
            .map_or(1, |p| (p.now() * 1000.0) as u64 % (1 << 32)),
    }
}
