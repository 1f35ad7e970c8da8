import { portalRoutes, startApp } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { AgencyInvoice, AgencyInvoices } from './app/invoices';
import { LaunchDetail } from './app/launch-detail';
import { Launches } from './app/launches';
import { ProfilePage } from './app/profile';
import { Rockets } from './app/rockets';
import { ScheduleLaunch } from './app/schedule';

startApp(
  portalRoutes(Role.AGENCY, [
    { path: '', component: Launches, title: 'Launches · AstroBookings agency' },
    { path: 'launches/new', component: ScheduleLaunch, title: 'Schedule a launch · AstroBookings agency' },
    { path: 'launches/:id', component: LaunchDetail, title: 'Launch · AstroBookings agency' },
    { path: 'rockets', component: Rockets, title: 'Rockets · AstroBookings agency' },
    { path: 'profile', component: ProfilePage, title: 'Agency profile · AstroBookings agency' },
    { path: 'invoices', component: AgencyInvoices, title: 'Invoices · AstroBookings agency' },
    { path: 'invoices/:id', component: AgencyInvoice, title: 'Invoice · AstroBookings agency' },
  ]),
);
