import { startApp } from '@astro/shared';
import { AccountPage } from './app/account';
import { LoginPage } from './app/login';
import { RegisterPage } from './app/register';

startApp([
  { path: '', pathMatch: 'full', redirectTo: 'login' },
  { path: 'login', component: LoginPage, title: 'Sign in · AstroBookings' },
  { path: 'register', component: RegisterPage, title: 'Register · AstroBookings' },
  { path: 'account', component: AccountPage, title: 'Your account · AstroBookings' },
  { path: '**', redirectTo: 'login' },
]);
