/** The SDK's version; `hello` sends it as `client: "tidings-js/<version>"`. Kept equal to
 * package.json's by a unit test (a browser cannot import JSON everywhere yet). */
export const VERSION = '0.1.0';

/** The protocol version this SDK speaks: 2, whose `message.new` carries the recipient's badge and
 * toast (handed on as the `notification.badge` and `notification.toast` events of version 1). */
export const PROTOCOL_VERSION = 2;
