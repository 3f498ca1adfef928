// The page's WebGPU path: replays the prediction the server traced (GET api/webgpu/plan, see
// crates/cli/src/commands/serve/webgpu.rs) with the browser's WebGPU, running the WGSL files of shaders/
// served by the binary. The plan names buffers by index; its steps write, clear, copy, dispatch and read,
// in order. Steps before `plan.setup` (the weights, a first prediction) run once; the rest run per image,
// with step `plan.input`'s data replaced by the image, and step `plan.output` read back: the probabilities.

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const UNIFORM_ALIGN = 256; // minUniformBufferOffsetAlignment, WebGPU's default limit the plan was traced under

async function fetchOk(url, as) {
  const response = await fetch(url);
  if (!response.ok) {
    const text = await response.text();
    let reason = text;
    try { reason = JSON.parse(text).error; } catch (_) { /* not JSON: keep the text */ }
    throw new Error(`${url}: ${reason}`);
  }
  return as === "json" ? response.json() : response.arrayBuffer();
}

// Opens WebGPU and prepares the plan: buffers, shader modules, pipelines, uniform parameters and bind groups
// are made once. Resolves to { adapter, run(pixels) -> Float32Array }, or throws saying why WebGPU cannot run it.
export async function openWebGpu() {
  if (!navigator.gpu) throw new Error("this browser has no WebGPU (navigator.gpu is missing)");
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("WebGPU found no adapter");
  const device = await adapter.requestDevice();
  const info = adapter.info || {};
  const adapterName = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") || "unnamed adapter";

  const [plan, data] = await Promise.all([fetchOk("api/webgpu/plan", "json"), fetchOk("api/webgpu/data")]);
  const bytes = (offset, length) => new Uint8Array(data, offset, length);

  device.pushErrorScope("validation");
  const buffers = plan.buffers.map(size => device.createBuffer({ size, usage: USAGE() }));
  const modules = {};
  await Promise.all(plan.kernels.map(async name => {
    const source = new TextDecoder().decode(await fetchOk(`shaders/${name}.wgsl`));
    const module = device.createShaderModule({ label: name, code: source });
    const errors = (await module.getCompilationInfo()).messages.filter(m => m.type === "error");
    if (errors.length) throw new Error(`shaders/${name}.wgsl: ${errors.map(m => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`);
    modules[name] = module;
  }));

  // Every dispatch's parameters in one uniform buffer, each at its own aligned offset.
  const dispatches = plan.steps.filter(s => s.op === "dispatch");
  const slot = d => Math.ceil(Math.max(d.params[1], 16) / UNIFORM_ALIGN) * UNIFORM_ALIGN;
  const uniformSize = dispatches.reduce((sum, d) => sum + slot(d), 0);
  const uniforms = device.createBuffer({ size: Math.max(uniformSize, 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const pipelines = {};
  let at = 0;
  for (const d of dispatches) {
    const key = `${d.kernel}:${d.entry}:${JSON.stringify(d.constants)}`;
    pipelines[key] ??= device.createComputePipelineAsync({
      label: key,
      layout: "auto",
      compute: { module: modules[d.kernel], entryPoint: d.entry, constants: d.constants },
    });
    const params = new Uint8Array(slot(d));
    params.set(bytes(d.params[0], d.params[1]));
    device.queue.writeBuffer(uniforms, at, params);
    d.uniform = { buffer: uniforms, offset: at, size: Math.max(d.params[1], 16) };
    d.key = key;
    at += slot(d);
  }
  for (const d of dispatches) {
    d.pipeline = await pipelines[d.key];
    d.group = device.createBindGroup({
      layout: d.pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: d.uniform }].concat(d.bindings.map(([b, offset, size], i) => (
        { binding: i + 1, resource: { buffer: buffers[b], offset, size } }))),
    });
  }
  const failed = await device.popErrorScope();
  if (failed) throw new Error(`WebGPU rejected the plan: ${failed.message}`);

  const output = plan.steps[plan.output].from;
  const staging = device.createBuffer({ size: output[2], usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

  // Runs steps [first, last) in order; `image` (u8) replaces the input write's data.
  async function replay(first, last, image) {
    let encoder = device.createCommandEncoder();
    let pass = null;
    const endPass = () => { if (pass) { pass.end(); pass = null; } };
    for (let i = first; i < last; i++) {
      const step = plan.steps[i];
      if (step.op === "dispatch") {
        pass ??= encoder.beginComputePass();
        pass.setPipeline(step.pipeline);
        pass.setBindGroup(0, step.group);
        pass.dispatchWorkgroups(...step.workgroups);
        continue;
      }
      endPass();
      if (step.op === "write") {
        // A queue write lands before the next submit: submit what came before it first.
        device.queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
        const [b, offset, size] = step.to;
        const source = i === plan.input ? image : bytes(step.data, size);
        device.queue.writeBuffer(buffers[b], offset, source, 0, size);
      } else if (step.op === "clear") {
        const [b, offset, size] = step.range;
        encoder.clearBuffer(buffers[b], offset, size);
      } else if (step.op === "copy") {
        encoder.copyBufferToBuffer(buffers[step.from[0]], step.from[1], buffers[step.to[0]], step.to[1], step.from[2]);
      } else if (step.op === "read" && i === plan.output) {
        encoder.copyBufferToBuffer(buffers[step.from[0]], step.from[1], staging, 0, step.from[2]);
      } // other reads (the predicted class) only copy to the host: nothing the page needs
    }
    endPass();
    device.queue.submit([encoder.finish()]);
  }

  const inputSize = plan.steps[plan.input].to[2];
  await replay(0, plan.setup, new Uint8Array(inputSize));

  let queue = Promise.resolve();
  // One image at a time (the buffers are shared): the u8 pixels as the model reads them.
  function run(pixels) {
    const result = queue.then(async () => {
      const image = new Uint8Array(inputSize);
      image.set(pixels);
      device.pushErrorScope("validation");
      await replay(plan.setup, plan.steps.length, image);
      await staging.mapAsync(GPUMapMode.READ);
      const probabilities = new Float32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      const failed = await device.popErrorScope();
      if (failed) throw new Error(`WebGPU: ${failed.message}`);
      return probabilities.slice(0, plan.classes);
    });
    queue = result.catch(() => {});
    return result;
  }
  return { adapter: adapterName, run };
}
