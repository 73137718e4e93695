//! A host for unit tests: one `Process` (shared data and metrics, as Envoy keeps them per
//! process) and any number of VMs in it, each with its own clock, buffers, log and HTTP calls.
//! It records what the root asked for, and answers as the test set it up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::host::{Buffer, Host, LogLevel, Map, MetricKind, Status, CAS_MISMATCH, NOT_FOUND};
use crate::pairs::serialize;

/// What Envoy keeps per process: shared data (with CAS tokens) and metrics.
#[derive(Default)]
pub struct Process {
    shared: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    /// Metric names by id - 1, and their values.
    metrics: Vec<(MetricKind, String, i64)>,
    /// Shared-data writes so far (reads are free in this accounting).
    pub shared_writes: usize,
}

/// An HTTP call a root dispatched.
#[derive(Clone, Debug)]
pub struct Call {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Vm {
    pub now_nanos: u64,
    pub config: Vec<u8>,
    /// The answer to the call being delivered: serialised headers and the body.
    pub call_headers: Vec<u8>,
    pub call_body: Vec<u8>,
    pub logs: Vec<(LogLevel, String)>,
    pub tick_ms: Option<u32>,
    pub calls: Vec<Call>,
    /// Host calls that fail, by name, with this status.
    pub failing: HashMap<&'static str, Status>,
}

/// One VM's view of the host. Clones share the VM and the process.
#[derive(Clone, Default)]
pub struct Fake {
    pub vm: Rc<RefCell<Vm>>,
    pub process: Rc<RefCell<Process>>,
}

impl Fake {
    /// Another VM (worker) in the same process.
    pub fn sibling(&self) -> Fake {
        Fake {
            vm: Rc::default(),
            process: self.process.clone(),
        }
    }

    pub fn set_config(&self, json: &str) {
        self.vm.borrow_mut().config = json.as_bytes().to_vec();
    }

    pub fn set_now(&self, seconds: i64) {
        self.vm.borrow_mut().now_nanos = u64::try_from(seconds).unwrap_or(0) * 1_000_000_000;
    }

    /// Sets up the answer the next `on_http_call_response` reads.
    pub fn answer(&self, status: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![(":status", status)];
        all.extend_from_slice(headers);
        let mut vm = self.vm.borrow_mut();
        vm.call_headers = serialize(&all);
        vm.call_body = body.to_vec();
    }

    pub fn fail(&self, call: &'static str, status: Status) {
        self.vm.borrow_mut().failing.insert(call, status);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.vm.borrow().calls.clone()
    }

    /// Log lines so far that contain `needle`.
    pub fn logged(&self, needle: &str) -> Vec<String> {
        let vm = self.vm.borrow();
        vm.logs
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// A metric's value by its full name (0 when never defined or moved).
    pub fn metric(&self, name: &str) -> i64 {
        let p = self.process.borrow();
        p.metrics
            .iter()
            .find(|(_, n, _)| n == name)
            .map_or(0, |(_, _, v)| *v)
    }

    /// The value of the first shared-data key that starts with `key_prefix`.
    pub fn get_shared(&self, key_prefix: &str) -> Option<Vec<u8>> {
        let p = self.process.borrow();
        p.shared
            .iter()
            .find(|(k, _)| k.starts_with(key_prefix))
            .map(|(_, (v, _))| v.clone())
    }

    /// Overwrites a shared-data key as another VM (or a corrupt one) would.
    pub fn put_shared(&self, key_prefix: &str, value: &[u8]) {
        let mut p = self.process.borrow_mut();
        let key = p
            .shared
            .keys()
            .find(|k| k.starts_with(key_prefix))
            .cloned()
            .unwrap_or_else(|| key_prefix.to_owned());
        p.next_cas += 1;
        let cas = p.next_cas;
        p.shared.insert(key, (value.to_vec(), cas));
    }

    fn failure(&self, call: &'static str) -> Result<(), Status> {
        match self.vm.borrow().failing.get(call) {
            Some(s) => Err(*s),
            None => Ok(()),
        }
    }
}

impl Host for Fake {
    fn log(&self, level: LogLevel, message: &str) {
        self.vm.borrow_mut().logs.push((level, message.to_owned()));
    }
    fn now_nanos(&self) -> Result<u64, Status> {
        self.failure("now")?;
        Ok(self.vm.borrow().now_nanos)
    }
    fn set_tick_period_ms(&self, period: u32) -> Result<(), Status> {
        self.failure("tick")?;
        self.vm.borrow_mut().tick_ms = Some(period);
        Ok(())
    }
    fn buffer(&self, which: Buffer, max_size: usize) -> Result<Vec<u8>, Status> {
        self.failure("buffer")?;
        let vm = self.vm.borrow();
        let all = match which {
            Buffer::PluginConfiguration => &vm.config,
            Buffer::CallResponseBody => &vm.call_body,
        };
        Ok(all.iter().take(max_size).copied().collect())
    }
    fn header_map(&self, which: Map) -> Result<Vec<u8>, Status> {
        self.failure("header_map")?;
        match which {
            Map::CallResponse => Ok(self.vm.borrow().call_headers.clone()),
            Map::Request | Map::Response => Err(NOT_FOUND),
        }
    }
    fn shared_get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        self.failure("shared_get")?;
        Ok(match self.process.borrow().shared.get(key) {
            Some((v, cas)) => (Some(v.clone()), *cas),
            None => (None, 0),
        })
    }
    /// Envoy's rule: a CAS token guards a key that exists; a write to an absent key succeeds.
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        self.failure("shared_set")?;
        let mut p = self.process.borrow_mut();
        if let Some((_, current)) = p.shared.get(key) {
            if cas != 0 && cas != *current {
                return Err(CAS_MISMATCH);
            }
        }
        p.next_cas += 1;
        let next = p.next_cas;
        p.shared.insert(key.to_owned(), (value.to_vec(), next));
        p.shared_writes += 1;
        Ok(())
    }
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, Status> {
        self.failure("http_call")?;
        let mut vm = self.vm.borrow_mut();
        let token = u32::try_from(vm.calls.len()).unwrap_or(u32::MAX) + 1;
        vm.calls.push(Call {
            token,
            cluster: cluster.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            timeout_ms,
        });
        Ok(token)
    }
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, Status> {
        self.failure("define_metric")?;
        let mut p = self.process.borrow_mut();
        if let Some(i) = p.metrics.iter().position(|(_, n, _)| n == name) {
            return Ok(u32::try_from(i).unwrap_or(0) + 1);
        }
        p.metrics.push((kind, name.to_owned(), 0));
        Ok(u32::try_from(p.metrics.len()).unwrap_or(0))
    }
    fn increment_metric(&self, id: u32, by: i64) -> Result<(), Status> {
        let mut p = self.process.borrow_mut();
        let slot = p
            .metrics
            .get_mut((id as usize).wrapping_sub(1))
            .ok_or(NOT_FOUND)?;
        slot.2 += by;
        Ok(())
    }
    fn record_metric(&self, id: u32, value: u64) -> Result<(), Status> {
        let mut p = self.process.borrow_mut();
        let slot = p
            .metrics
            .get_mut((id as usize).wrapping_sub(1))
            .ok_or(NOT_FOUND)?;
        slot.2 = i64::try_from(value).unwrap_or(i64::MAX);
        Ok(())
    }
}
