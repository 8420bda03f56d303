import './style.css';
import { renderApp } from './app';
import { onLocaleChange } from './i18n';
import { startRouter } from './router';

onLocaleChange(renderApp);
startRouter(renderApp);
