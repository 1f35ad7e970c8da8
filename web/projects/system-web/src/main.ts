import { portalRoutes, requireRole, startApp } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { Employees } from './app/employees';
import { Home } from './app/home';
import { Notifications } from './app/notifications';
import { SyncJobs } from './app/sync-jobs';
import { Users } from './app/users';
import { InvoicePage } from './app/invoice';
import { Invoices } from './app/invoices';
import { AnnualReport } from './app/annual-report';
import { RevenueReport } from './app/revenue-report';
import { ActivityLogs } from './app/logs';
import { ServiceStatus } from './app/status';
import { Metrics } from './app/metrics';

const admin = [requireRole(Role.ADMIN)];
const it = [requireRole(Role.IT)];
const finance = [requireRole(Role.FINANCE)];

startApp(
  portalRoutes(
    [Role.ADMIN, Role.IT, Role.FINANCE],
    [
      { path: '', component: Home, title: 'Operations · AstroBookings' },
      { path: 'employees', component: Employees, canActivate: admin, title: 'Employees · AstroBookings' },
      { path: 'users', component: Users, canActivate: admin, title: 'Users · AstroBookings' },
      { path: 'notifications', component: Notifications, canActivate: it, title: 'Notification queue · AstroBookings' },
      { path: 'sync-jobs', component: SyncJobs, canActivate: it, title: 'Sync jobs · AstroBookings' },
      { path: 'status', component: ServiceStatus, canActivate: it, title: 'Service status · AstroBookings' },
      { path: 'logs', component: ActivityLogs, canActivate: it, title: 'Activity logs · AstroBookings' },
      { path: 'metrics', component: Metrics, canActivate: it, title: 'Metrics · AstroBookings' },
      { path: 'invoices', component: Invoices, canActivate: finance, title: 'Invoices · AstroBookings' },
      { path: 'invoices/:id', component: InvoicePage, canActivate: finance, title: 'Invoice · AstroBookings' },
      { path: 'reports', component: RevenueReport, canActivate: finance, title: 'Revenue report · AstroBookings' },
      { path: 'annual-report', component: AnnualReport, canActivate: finance, title: 'Annual report · AstroBookings' },
    ],
  ),
);
