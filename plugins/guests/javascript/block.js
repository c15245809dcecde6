// Fixture: a JavaScript block that misbehaves on request, for the host's tests.
//
// Settings: {"do": "throw" | "fetch" | "print"}. `throw` throws an Error out of
// `transform`; `fetch` makes an HTTP request (which the host does not implement);
// `print` logs to the console and passes its input through.

export const block = {
  describe() {
    return {
      name: 'javascript-fixture',
      version: '1.0.0',
      description: 'misbehaves on request',
      configSchema: JSON.stringify({ type: 'object' }),
      inputs: [{ name: 'in', description: 'any table', columns: undefined }],
      outputs: [{ name: 'out', description: 'what happened', columns: undefined }],
      inputFormat: 'columns',
    };
  },

  transform(config, inputs) {
    const { do: what } = JSON.parse(config);
    if (what === 'throw') throw new Error('the fixture was asked to fail');
    if (what === 'fetch') {
      // componentize-js runs fetch on the event loop; a synchronous export cannot wait
      // for it, so the request is only started: enough to reach the HTTP import.
      fetch('http://127.0.0.1:9/');
    }
    console.log('javascript on stdout');
    console.error('javascript on stderr');
    return inputs.map((t) => ({ port: 'out', data: t.data }));
  },
};
