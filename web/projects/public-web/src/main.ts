import { startApp } from '@astro/shared';
import { Catalogue } from './app/catalogue';
import { LaunchPage } from './app/launch';

startApp([
  { path: '', component: Catalogue, title: 'Launches · AstroBookings' },
  { path: 'launches/:slug', component: LaunchPage, title: 'Launch · AstroBookings' },
  { path: '**', redirectTo: '' },
]);
