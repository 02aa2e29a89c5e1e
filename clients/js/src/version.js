/** The SDK's version; `hello` sends it as `client: "tidings-js/<version>"`. Kept equal to
 * package.json's by a unit test (a browser cannot import JSON everywhere yet). */
export const VERSION = '0.1.0';

/** The protocol version this SDK says in `hello`: 2, whose `message.new` carries the recipient's
 * badge and toast (handed on as the `notification.badge` and `notification.toast` events of
 * version 1). */
export const PROTOCOL_VERSION = 2;

/** Every protocol version this SDK speaks. A server that refuses {@link PROTOCOL_VERSION} with
 * `UPGRADE_REQUIRED` gets a reconnect with the highest of these its `supportedVersions` lists
 * (version 1 sends the badge and toast as their own frames, which the SDK emits as they come). */
export const PROTOCOL_VERSIONS = Object.freeze([1, 2]);
