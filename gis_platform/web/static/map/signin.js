// Staff sign-in on the map: an access token (bearer), kept in sessionStorage under the upload page's
// key (one sign-in serves both pages) and never put in a URL. Signed in, every request of the map is
// made as that caller, so internal layers are listed and drawn; a rejected token (401) signs out.
import { onAuthChange, sessionToken, setSessionToken } from './api.js';
import { t } from './i18n.js';

const MESSAGES = { signin: 'auth.welcome', signout: 'auth.signedOut', rejected: 'auth.rejected' };

export class SignIn {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.el = {
      details: $('auth-signin'), summary: document.querySelector('#auth-signin summary'), form: $('auth-form'),
      input: $('auth-token'), state: $('auth-state'), signout: $('auth-signout'), status: $('auth-status'),
    };
    this.message = null; // {key, error} of the last change, re-rendered on a language switch
    this.el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = this.el.input.value.trim();
      if (!token) {
        this.show({ key: 'auth.empty', error: true });
        this.el.input.focus();
        return;
      }
      this.el.input.value = '';
      setSessionToken(token, 'signin'); // focus goes to the sign-out button, then the form closes
      this.el.details.open = false;
    });
    this.el.form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.el.details.open = false;
        this.el.summary.focus();
      }
    });
    this.el.signout.addEventListener('click', () => setSessionToken('', 'signout'));
    onAuthChange(({ reason }) => {
      // Keep keyboard focus on the control that now stands where the pressed one was.
      const focused = this.el.form.contains(document.activeElement) || document.activeElement === this.el.signout;
      this.show({ key: MESSAGES[reason], error: reason === 'rejected' });
      if (focused) (sessionToken() ? this.el.signout : this.el.summary).focus();
    });
    this.render();
  }

  show(message) {
    this.message = message;
    this.render();
  }

  render() {
    const signedIn = Boolean(sessionToken());
    this.el.details.hidden = signedIn;
    this.el.state.hidden = !signedIn;
    this.el.signout.hidden = !signedIn;
    document.body.dataset.signedIn = String(signedIn);
    const message = this.message;
    this.el.status.textContent = message && message.key ? t(message.key) : '';
    this.el.status.classList.toggle('error', Boolean(message && message.error));
  }

  /** Re-render the dynamic texts after a language switch (the static ones carry data-i18n). */
  relabel() { this.render(); }
}
