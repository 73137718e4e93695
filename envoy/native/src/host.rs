//! What the filter needs from Envoy, as two small traits: the ABI implements them (`abi/`), the
//! unit tests implement them with plain vectors. Everything above this line is safe Rust.

/// Envoy's log levels, in the ABI's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// Which header map an edit goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Map {
    /// The request on its way upstream.
    Request,
    /// The upstream's response on its way to the client.
    Response,
}

/// A counter or gauge Envoy defined for this filter configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricId(pub Option<usize>);

/// One HTTP stream, during one hook. Header views borrow `self`, so the borrow checker keeps
/// them from outliving the hook or surviving an edit of the map they point into.
pub trait Stream {
    /// Every request header as Envoy holds it (pseudo-headers included), in order, repeats kept.
    fn request_headers(&self) -> Vec<(&[u8], &[u8])>;
    /// Replaces every value of `name` in `map` with `value`.
    fn set_header(&mut self, map: Map, name: &str, value: &str) -> bool;
    /// Adds a value beside any `name` already has.
    fn add_header(&mut self, map: Map, name: &str, value: &str) -> bool;
    /// Removes `name` from `map`.
    fn remove_header(&mut self, map: Map, name: &str) -> bool;
    /// Answers the stream locally; the request goes no further.
    fn send_response(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str);
    /// Sets string entries of the stream's dynamic metadata under `namespace`, in one call.
    fn set_metadata(&mut self, namespace: &str, entries: &[(&str, &str)]);
    /// Adds one to a counter.
    fn increment(&mut self, id: MetricId);
}

/// The filter configuration's side of Envoy: metrics and the registry fetch, on the main thread.
pub trait ConfigHost {
    fn define_counter(&mut self, name: &str) -> MetricId;
    fn define_gauge(&mut self, name: &str) -> MetricId;
    fn increment(&mut self, id: MetricId);
    fn set_gauge(&mut self, id: MetricId, value: u64);
    /// Starts a GET to `cluster`; its answer arrives in the config's callout hook under the id
    /// returned. `Err` carries the ABI's init result (no healthy host, unknown cluster, ...).
    fn callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u64, i32>;
}

/// Logs through Envoy (the `dynamic_modules` logger); a no-op in unit tests.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(not(test))]
    crate::abi::log(level, message);
    #[cfg(test)]
    let _ = (level, message);
}

/// Whether Envoy would print a line at `level`: lines below it are never formatted.
pub fn log_enabled(level: LogLevel) -> bool {
    #[cfg(not(test))]
    return crate::abi::log_enabled(level);
    #[cfg(test)]
    {
        let _ = level;
        true
    }
}
