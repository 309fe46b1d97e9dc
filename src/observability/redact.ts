/**
 * Secrets never leave the process in a log line or an error message: the password of any URL
 * (`scheme://user:password@host`) becomes `***`. Applied to every log line (logger.ts) and to
 * configuration errors that quote a value.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'?#]*:)[^\s@"'/?#]+@/gi;

export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@');
}
