/**
 * Secrets never leave the process in a log line or an error message: the password of any URL
 * (`scheme://user:password@host`) becomes `***`, and so does every value registered with
 * {@link registerSecret} (configuration registers the SASL password, the codec server's token and
 * the payload encryption keys when it parses them). Applied to every log line (logger.ts) and to
 * configuration errors that quote a value.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'?#]*:)[^\s@"'/?#]+@/gi;

const secrets = new Set<string>();

/** Redacts `value` wherever it appears from now on. Values shorter than 8 characters are ignored
 * (they would blank out ordinary words; configuration refuses shorter secrets anyway). */
export function registerSecret(value: string): void {
  if (value.length >= 8) secrets.add(value);
}

export function redactSecrets(text: string): string {
  let out = text.replace(URL_PASSWORD, '$1***@');
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('***');
  return out;
}
