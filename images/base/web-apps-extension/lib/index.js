// The web apps a person started (a port their process listens on: labstack_proxy.web_apps), as a section
// of JupyterLab's Running panel: where JupyterLab already lists what runs (kernels, terminals, and
// jupyter-server-proxy's own apps), and where a person stops things. Each entry opens the app through
// Jupyter's proxy; one that needs a setting says which, with the path filled in.
// Plain JavaScript, so that the image's build needs no TypeScript: @jupyterlab/builder bundles it.
import { URLExt } from '@jupyterlab/coreutils';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { ServerConnection } from '@jupyterlab/services';
import { launchIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

// How often the list is asked for while JupyterLab is open (the server looks at its ports each time).
const POLL_MILLISECONDS = 5000;

class WebApps {
  constructor() {
    this.apps = [];
    this.changed = new Signal(this);
    this.settings = ServerConnection.makeSettings();
  }

  url(path) {
    return URLExt.join(this.settings.baseUrl, 'labstack/web-apps', path);
  }

  async refresh() {
    let apps;
    try {
      const response = await ServerConnection.makeRequest(this.url(''), {}, this.settings);
      if (!response.ok) {
        return;
      }
      apps = (await response.json()).apps;
    } catch (error) {
      return; // the server is restarting, or the network is away: the next poll asks again
    }
    if (JSON.stringify(apps) !== JSON.stringify(this.apps)) {
      this.apps = apps;
      this.changed.emit(apps);
    }
  }

  async stop(app) {
    await ServerConnection.makeRequest(this.url(String(app.port)), { method: 'DELETE' }, this.settings);
    await this.refresh();
  }
}

// "8050 · python app.py": the port, then the command with its programs' folders left out.
function label(app) {
  const words = app.command.split(' ').map(word => (word.startsWith('/') ? word.split('/').pop() : word));
  return `${app.port} · ${words.join(' ')}`;
}

// What to start the app with; HOST is where this browser opens Jupyter, which only the browser knows.
function setting(app) {
  return app.flag.replace('HOST', window.location.host);
}

function title(app) {
  const where = app.address === '0.0.0.0' || app.address === '::' ? 'every address' : app.address;
  const lines = [`Opens ${app.url} through Jupyter (it listens on ${where}).`, app.command];
  if (app.flag) {
    lines.unshift(`Its page asks for its files elsewhere. Start it again with: ${setting(app)}`);
  }
  if (!app.stoppable) {
    lines.push('Served by a notebook: stop it from the notebook, or shut its kernel down.');
  }
  return lines.join('\n');
}

const plugin = {
  id: '@labstack/web-apps:running',
  description: 'The web apps you started, in the Running panel, each opening through Jupyter.',
  autoStart: true,
  requires: [IRunningSessionManagers],
  activate: (app, managers) => {
    const webApps = new WebApps();
    managers.add({
      name: 'Web apps',
      running: () =>
        webApps.apps.map(entry => ({
          className: 'labstack-WebApp',
          context: String(entry.port),
          open: () => window.open(entry.url, '_blank'),
          shutdown: entry.stoppable ? () => void webApps.stop(entry) : undefined,
          icon: () => launchIcon,
          label: () => label(entry) + (entry.flag ? ' (needs a setting)' : ''),
          labelTitle: () => title(entry)
        })),
      shutdownAll: () => {
        for (const entry of webApps.apps.filter(item => item.stoppable)) {
          void webApps.stop(entry);
        }
      },
      refreshRunning: () => void webApps.refresh(),
      runningChanged: webApps.changed,
      shutdownLabel: 'Stop',
      shutdownAllLabel: 'Stop All',
      shutdownAllConfirmationText: 'Stop every web app you started from a terminal?'
    });
    void webApps.refresh();
    setInterval(() => void webApps.refresh(), POLL_MILLISECONDS);
  }
};

export default plugin;
