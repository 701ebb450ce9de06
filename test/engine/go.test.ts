/** The Go-compatibility helpers (src/engine/go.ts): Go's formatting of what sobek exports, as k6 prints it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import vm from 'node:vm';
import { goError, goTypeName } from '../../src/engine/go.ts';

describe('goTypeName: Go `%T` of sobek Value.Export()', () => {
  // k6 prints these with fmt's %T of the exported value: js/modules/k6/http/request.go
  //   `return nil, fmt.Errorf("unknown request body type %T", body)`,
  // internal/js/modules/k6/websockets/websockets.go `common.Throw(rt, fmt.Errorf("unsupported send type %T", o))`
  // and lib/types/types.go `fmt.Errorf("unable to use type %T as a duration value", v)`.

  test('primitives', () => {
    assert.equal(goTypeName(undefined), '<nil>');
    assert.equal(goTypeName(null), '<nil>');
    assert.equal(goTypeName(true), 'bool');
    assert.equal(goTypeName(1), 'int64');
    assert.equal(goTypeName(1.5), 'float64');
    assert.equal(goTypeName('s'), 'string');
    assert.equal(
      goTypeName(() => 1),
      'func(sobek.FunctionCall) sobek.Value',
    );
    assert.equal(goTypeName([1]), '[]interface {}');
    assert.equal(goTypeName({ a: 1 }), 'map[string]interface {}');
  });

  // The two copies this replaces (http.ts and websockets.ts) disagreed on these; sobek decides:
  //   builtin_bigint.go  `func (v *valueBigInt) Export() interface{} { return new(big.Int).Set((*big.Int)(v)) }`
  //     → "*big.Int" (websockets.ts said "bigint");
  //   value.go  `func (s *Symbol) Export() interface{} { return s.String() }`  → "string"
  //     (http.ts said "map[string]interface {}", websockets.ts "symbol");
  //   string_ascii.go etc.: a string exports as a Go string → "string" (http.ts said "map[string]interface {}");
  //   typedarrays.go  `func (a *uint8Array) export(offset int, length int) interface{} {
  //     return unsafe.Slice(a.ptr(offset), length) }` with exportType typeBytes ([]byte, printed "[]uint8")
  //     (http.ts said "*sobek.Uint8Array", websockets.ts "map[string]interface {}"); the other typed arrays are
  //     slices of their element type;
  //   a DataView has no export of its own (dataViewObject embeds baseObject) → "map[string]interface {}"
  //     (http.ts said "*sobek.DataView").
  test('the cases the two former copies disagreed on', () => {
    assert.equal(goTypeName(10n), '*big.Int');
    assert.equal(goTypeName(Symbol('x')), 'string');
    assert.equal(goTypeName('text'), 'string');
    assert.equal(goTypeName(new Uint8Array(1)), '[]uint8');
    assert.equal(goTypeName(new Uint8ClampedArray(1)), '[]uint8');
    assert.equal(goTypeName(new Int16Array(1)), '[]int16');
    assert.equal(goTypeName(new Float64Array(1)), '[]float64');
    assert.equal(goTypeName(new BigUint64Array(1)), '[]uint64');
    assert.equal(goTypeName(new DataView(new ArrayBuffer(1))), 'map[string]interface {}');
  });

  // typedarrays.go `func (o *arrayBufferObject) export(*objectExportCtx) interface{} { return ArrayBuffer{buf: o} }`;
  // date.go `func (d *dateObject) export(...) interface{} { if d.isSet() { return d.time() }; return nil }`;
  // builtin_map.go exports `[][2]interface{}`, builtin_set.go `[]interface{}`, builtin_promise.go the *Promise;
  // object.go `func (o *primitiveValueObject) export(...) interface{} { return o.pValue.Export() }` (boxed
  // number, boolean, symbol, BigInt), while a String object is a stringObject exported as its properties' map.
  test('objects sobek exports as something else than a map', () => {
    assert.equal(goTypeName(new ArrayBuffer(1)), 'sobek.ArrayBuffer');
    assert.equal(goTypeName(new Date(0)), 'time.Time');
    assert.equal(goTypeName(new Date(NaN)), '<nil>');
    assert.equal(goTypeName(new Map()), '[][2]interface {}');
    assert.equal(goTypeName(new Set()), '[]interface {}');
    assert.equal(goTypeName(Promise.resolve()), '*sobek.Promise');
    assert.equal(goTypeName(Object(2)), 'int64');
    assert.equal(goTypeName(Object(2.5)), 'float64');
    assert.equal(goTypeName(Object(false)), 'bool');
    assert.equal(goTypeName(Object(Symbol('x'))), 'string');
    assert.equal(goTypeName(Object(1n)), '*big.Int');
    assert.equal(goTypeName(Object('s')), 'map[string]interface {}');
  });

  test('values of a VU context (another realm) are named the same', () => {
    const v = vm.runInNewContext(
      '({ arr: [1], u8: new Uint8Array(2), ab: new ArrayBuffer(1), date: new Date(0), map: new Map(), obj: {} })',
    ) as Record<string, unknown>;
    assert.equal(goTypeName(v.arr), '[]interface {}');
    assert.equal(goTypeName(v.u8), '[]uint8');
    assert.equal(goTypeName(v.ab), 'sobek.ArrayBuffer');
    assert.equal(goTypeName(v.date), 'time.Time');
    assert.equal(goTypeName(v.map), '[][2]interface {}');
    assert.equal(goTypeName(v.obj), 'map[string]interface {}');
  });
});

describe('goError', () => {
  // sobek runtime.go NewGoError: `e := r.newError(r.getGoError(), err.Error()).(*Object)` — an Error named
  // "GoError" whose message is the Go error text (k6 prints `GoError: ...`, internal/js/console_test.go).
  test('an Error of the given realm, named GoError, with the Go text as its message', () => {
    const E = vm.runInNewContext('Error') as ErrorConstructor;
    const err = goError(E, 'no arguments');
    assert.ok(err instanceof E);
    assert.equal(err.name, 'GoError');
    assert.equal(err.message, 'no arguments');
    assert.equal(String(err), 'GoError: no arguments');
  });
});
