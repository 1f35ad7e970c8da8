import { portalRoutes, startApp } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { BookPage } from './app/book';
import { BookingPage } from './app/booking';
import { MyBookings } from './app/my-bookings';

startApp(
  portalRoutes(Role.TRAVELER, [
    { path: '', component: MyBookings, title: 'My bookings · AstroBookings' },
    { path: 'book/:slug', component: BookPage, title: 'Book seats · AstroBookings' },
    { path: 'bookings/:id', component: BookingPage, title: 'Booking · AstroBookings' },
  ]),
);
