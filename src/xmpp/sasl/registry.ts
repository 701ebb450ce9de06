import { XmppError } from '../errors.ts';
import type { MechanismContext, MechanismFactory, SaslMechanism } from './mechanism.ts';

/** RFC 4422 §3.1: 1 to 20 characters of upper-case letters, digits, '-' and '_'. */
const MECHANISM_NAME = /^[A-Z0-9_-]{1,20}$/;

function canonical(name: string): string {
  return name.trim().toUpperCase();
}

/**
 * The SASL mechanisms a client can run: name → factory, in preference order (registration order, most
 * preferred first). Knows no mechanism itself; whoever assembles the client registers them with `use()`
 * (sasl/defaults.ts does SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), as xmpp.js's SASL factory does.
 * Names compare ignoring case and surrounding whitespace; they are kept and returned upper-case.
 */
export class SaslRegistry {
  private readonly factories = new Map<string, MechanismFactory>();

  /**
   * Registers `factory` under `name`. A new name goes last in the preference order; a known one gets the new
   * factory and keeps its place. Throws RangeError for a name that is not an RFC 4422 mechanism name.
   */
  use(name: string, factory: MechanismFactory): this {
    const key = canonical(name);
    if (!MECHANISM_NAME.test(key))
      throw new RangeError(`invalid SASL mechanism name ${JSON.stringify(name)}`);
    this.factories.set(key, factory);
    return this;
  }

  /** Registered names, upper-case, most preferred first. */
  get names(): string[] {
    return [...this.factories.keys()];
  }

  has(name: string): boolean {
    return this.factories.has(canonical(name));
  }

  /**
   * The first name of `preference` (default: the registered names, in order) that the server offers.
   * Names not registered here are never picked, even when preferred. The result is the upper-case name.
   */
  choose(offered: readonly string[], preference: readonly string[] = this.names): string | undefined {
    const offeredSet = new Set(offered.map(canonical));
    for (const p of preference) {
      const name = canonical(p);
      if (this.factories.has(name) && offeredSet.has(name)) return name;
    }
    return undefined;
  }

  /** Builds the mechanism `name`; throws XmppError 'auth-no-mechanism' for a name not registered here. */
  create(name: string, context: MechanismContext): SaslMechanism {
    const factory = this.factories.get(canonical(name));
    if (!factory) {
      throw new XmppError(
        'auth-no-mechanism',
        undefined,
        `unsupported SASL mechanism ${name}; we support ${this.names.join(', ')}`,
      );
    }
    return factory(context);
  }

  /** The registered names of `preference` (default: all), upper-case, in its order: what we would accept. */
  usable(preference: readonly string[] = this.names): string[] {
    return preference.map(canonical).filter((p) => this.factories.has(p));
  }

  /**
   * choose + create. Throws XmppError 'auth-no-mechanism' naming both lists when the server offers nothing
   * that is registered (and preferred).
   */
  negotiate(
    offered: readonly string[],
    context: MechanismContext,
    preference?: readonly string[],
  ): SaslMechanism {
    const name = this.choose(offered, preference);
    if (name === undefined) {
      throw new XmppError(
        'auth-no-mechanism',
        undefined,
        `no usable SASL mechanism: server offers [${offered.join(', ')}], we support [${this.usable(preference).join(', ')}]`,
      );
    }
    return this.create(name, context);
  }
}
