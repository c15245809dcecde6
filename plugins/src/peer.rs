//! The floor a block call is measured against: instantiating an empty component from the
//! same engine and pooling allocator as every plugin, and calling its one function that
//! does nothing. Whatever a trivial block call costs beyond this is the host's own
//! work (sandbox set-up, checks, marshalling), which the plugin benchmark reports.

use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::{Host, PluginError, PluginResult};

/// An empty component exporting `run: func()`, linked once, ready to instantiate.
pub struct EmptyCall {
    engine: wasmtime::Engine,
    pre: InstancePre<()>,
}

impl EmptyCall {
    pub fn new(host: &Host) -> PluginResult<EmptyCall> {
        let engine = host.sandbox.engine.clone();
        let component = Component::new(&engine, empty_component())
            .map_err(|e| PluginError::Internal(e.to_string()))?;
        let pre = Linker::new(&engine)
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Internal(e.to_string()))?;
        Ok(EmptyCall { engine, pre })
    }

    /// One fresh store, one instance from the pool, one call.
    pub fn call(&self) -> PluginResult<()> {
        let mut store = Store::new(&self.engine, ());
        // The engine interrupts by epoch: without a deadline the call would trap at once.
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Internal(e.to_string()))?;
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .map_err(|e| PluginError::Internal(e.to_string()))?;
        run.call(&mut store, ())
            .map_err(|e| PluginError::Internal(e.to_string()))
    }
}

/// A core module with one function that returns, lifted as the component's `run`.
fn empty_component() -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ComponentBuilder, ComponentExportKind, ExportKind, ExportSection, Function,
        FunctionSection, Instruction, Module, TypeSection,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instruction(&Instruction::End);
    code.function(&body);
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);

    let mut component = ComponentBuilder::default();
    let module = component.core_module(None, &module);
    let instance = component.core_instantiate(None, module, []);
    let core_run = component.core_alias_export(None, instance, "run", ExportKind::Func);
    let (ty, mut encoder) = component.type_function(None);
    encoder
        .params::<[(&str, wasm_encoder::ComponentValType); 0], _>([])
        .result(None);
    let run = component.lift_func(None, core_run, ty, []);
    component.export("run", ComponentExportKind::Func, run, None);
    component.finish()
}

#[cfg(test)]
#[test]
fn the_empty_component_instantiates_and_runs() {
    let host = Host::new(crate::HostLimits::default(), None).unwrap();
    let peer = EmptyCall::new(&host).unwrap();
    for _ in 0..3 {
        peer.call().unwrap();
    }
}
